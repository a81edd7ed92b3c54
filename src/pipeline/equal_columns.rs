//! Columns that hold the same values share one array. A normalised
//! column most often holds what the input held (an email already in lower
//! case, a name already trimmed); sharing the array lets the columnar plane
//! filter it once and the Parquet writer encode it once
//! (`sinks::encode`). This module only compares and shares; it does not
//! build, filter or encode.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, StringArray};

/// Let a column equal to an earlier one hold that one's array: a
/// normalised value is most often the value as read, and the encoders
/// write a shared array once (see `sinks::encode`).
pub(super) fn share_equal(arrays: &mut [Option<ArrayRef>]) {
    for i in 1..arrays.len() {
        let Some(array) = &arrays[i] else { continue };
        let Some(a) = array.as_any().downcast_ref::<StringArray>() else {
            continue;
        };
        let same = (arrays[..i].iter().flatten()).find(|b| {
            Arc::ptr_eq(b, array)
                || b.as_any()
                    .downcast_ref::<StringArray>()
                    .is_some_and(|b| same_strings(a, b))
        });
        if let Some(same) = same.cloned() {
            arrays[i] = Some(same);
        }
    }
}

/// The two arrays hold the same values (and nulls) in the same rows.
fn same_strings(a: &StringArray, b: &StringArray) -> bool {
    a.len() == b.len()
        && a.value_data().len() == b.value_data().len()
        && a.nulls() == b.nulls()
        && a.value_offsets() == b.value_offsets()
        && a.value_data() == b.value_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_equal_to_an_earlier_one_shares_its_array() {
        let text = |values: &[Option<&str>]| Some(Arc::new(StringArray::from(values.to_vec())) as ArrayRef);
        let mut arrays = vec![
            text(&[Some("ann"), None, Some("bo")]),
            None,
            text(&[Some("ann"), Some(""), Some("bo")]), // a null is not an empty value
            text(&[Some("ann"), None, Some("bo")]),
            text(&[Some("an"), None, Some("nbo")]), // the same bytes, cut elsewhere
            text(&[Some("ann"), Some(""), Some("bo")]),
        ];
        share_equal(&mut arrays);
        let same = |i: usize, j: usize| Arc::ptr_eq(arrays[i].as_ref().unwrap(), arrays[j].as_ref().unwrap());
        assert!(same(3, 0) && same(5, 2));
        assert!(!same(2, 0) && !same(4, 0) && !same(4, 2));
    }
}
