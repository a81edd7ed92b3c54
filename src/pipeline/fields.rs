//! Which identity fields a run reads: what its `require` rule, its stages
//! and its sinks' columns read. The CSV source normalises only those
//! (a run that writes the email alone does not pay for names, company,
//! domain and LinkedIn URL). This module owns the answer; the source owns
//! normalising.

use crate::source::csv::IdentityField;
use crate::spec::{SourceSpec, ValidPipeline};
use crate::stages::StageSpec;
use crate::stages::dedupe::Keep;

/// The identity fields a run reads, when it reads fewer than all: those
/// its `require` rule, its stages and its sinks' columns read. `None` when a
/// stage or sink may read any field (a vendor stage, `keep =
/// "most_complete"`, a sink writing every column or one that is not a file).
/// Normalising only these
/// ([`CsvSource::normalise_only`](crate::source::csv::CsvSource::normalise_only))
/// leaves the output as it was: a field no one reads is never written.
pub(crate) fn fields_read(p: &ValidPipeline) -> Option<Vec<IdentityField>> {
    use IdentityField as F;
    let SourceSpec::Csv(source) = &p.source else {
        return None;
    };
    let mut read = source.require.clone();
    if !read.contains(&F::Email) {
        // A row must carry an email, a name or a LinkedIn URL to be kept.
        read.extend([F::Email, F::FullName, F::LinkedinUrl]);
    }
    for stage in &p.stages {
        match stage {
            StageSpec::Dedupe(d) if d.keep != Keep::MostComplete => read.extend(&d.key),
            _ => return None,
        }
    }
    for sink in &p.sinks {
        let (selection, partitions) = sink.columns_read()?;
        let names = selection.picks().iter().map(|pick| pick.name());
        for name in names.chain(partitions.iter().map(String::as_str)) {
            // leadpipe's own columns keep these names (an input column of the
            // same name is written as `original_<name>`).
            match name {
                "email_problem" => read.push(F::Email),
                name => read.extend(F::ALL.into_iter().find(|f| f.name() == name)),
            }
        }
    }
    Some(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use IdentityField as F;

    const HEADER: &str = "first_name,last_name,email,company,website,linkedin_url,title";

    /// The fields read by a pipeline of `[source]` extras, stages and sinks, on a small input.
    fn read_by(toml_body: &str) -> Option<Vec<IdentityField>> {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, format!("{HEADER}\nAnn,Lee,ann@x.com,X,x.com,,CEO\n")).unwrap();
        let file = dir.path().join("p.toml");
        let text = format!(
            "[source]\nkind = \"csv\"\npath = {:?}\n{toml_body}\n[state]\npath = {:?}\n",
            input,
            dir.path().join("state.db")
        );
        std::fs::write(&file, text).unwrap();
        let loaded = crate::spec::load(&file).unwrap();
        let p = crate::spec::validate(loaded, crate::spec::valid::Checks::default()).unwrap();
        fields_read(&p).map(|mut f| {
            f.sort_by_key(|f| *f as usize);
            f.dedup();
            f
        })
    }

    const DEDUPE: &str = "[[stages]]\nkind = \"dedupe\"\nkey = [\"email\"]\n";

    #[test]
    fn a_dedupe_on_email_to_chosen_columns_reads_the_email_alone() {
        let body = format!(
            "require = [\"email\"]\n{DEDUPE}[[sinks]]\nkind = \"parquet\"\npath = \"o.parquet\"\n\
             columns = [\"original_first_name\", \"email\", \"website\", \"title\"]\n"
        );
        assert_eq!(read_by(&body), Some(vec![F::Email]));
        let body = body.replace("\"title\"", "\"title\", { name = \"company_domain\", as = \"domain\" }");
        assert_eq!(read_by(&body), Some(vec![F::Email, F::CompanyDomain]));
    }

    #[test]
    fn without_a_required_email_the_fields_that_identify_someone_are_read() {
        let body = "[[sinks]]\nkind = \"csv\"\npath = \"o.csv\"\ncolumns = [\"title\"]\n";
        assert_eq!(read_by(body), Some(vec![F::Email, F::FullName, F::LinkedinUrl]));
    }

    #[test]
    fn every_field_is_read_by_default_columns_and_most_complete() {
        let sink = "[[sinks]]\nkind = \"parquet\"\npath = \"o.parquet\"\n";
        assert_eq!(read_by(&format!("require = [\"email\"]\n{DEDUPE}{sink}")), None);
        let chosen = format!("{sink}columns = [\"email\"]\n");
        let most_complete = DEDUPE.replace("key", "keep = \"most_complete\"\nkey");
        assert_eq!(read_by(&format!("{most_complete}{chosen}")), None);
    }
}
