//! Which key of a pipeline-file table serde refused, and why: the part,
//! stage or sink that owns a table's type asks this for the first error, so
//! the message can name the key and its line. Owns no parsing of its own.

/// Deserialize one table as `T`, returning the key path and message of the first error.
pub fn table_as<T: serde::de::DeserializeOwned>(value: toml::Value) -> Option<(String, String)> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(_) => None,
        Err(e) => {
            let mut path = e.path().to_string();
            let message = e.inner().to_string();
            let message = message.lines().next().unwrap_or_default().trim().to_string();
            // serde reports an unknown or missing key at its parent: name the key itself.
            if let Some(field) = ["unknown field `", "missing field `"]
                .iter()
                .find_map(|prefix| message.strip_prefix(prefix))
                .and_then(|m| m.split('`').next())
                && path.rsplit('.').next() != Some(field)
            {
                path = if path == "." {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
            }
            Some((path, message))
        }
    }
}
