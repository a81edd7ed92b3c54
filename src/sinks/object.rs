//! Outputs on S3-compatible object storage (`s3://bucket/key`), with the
//! promise local files keep: no reader ever sees a partial object at a
//! final key, and an interrupted run publishes nothing.
//!
//! How: every object of a run is uploaded under a temporary prefix of the
//! sink's own (`<dir>/_leadpipe_tmp/<name>/…`), streamed as it is written
//! (object_store's `BufWriter`: one PUT for a small object, a multipart
//! upload in `part_size` parts for a large one; neither is visible before it
//! completes). When the whole run completed, [`Staged::publish`] copies each
//! one to its final key (a server-side copy: the final key changes from the
//! old object to the new one at once), deletes the objects of the previous
//! output this run did not rewrite, then deletes the temporary objects.
//!
//! What a reader can see: at a final key, always a whole object, old or new.
//! During publishing (a few requests per object) a partitioned output can
//! be a mix of old and new partitions. What a crash leaves: temporary
//! objects (and, killed mid-upload, an incomplete multipart upload the
//! server keeps invisible until its lifecycle rule aborts it); the next run
//! of the sink deletes everything under its temporary prefix before it
//! writes. Names starting with `_` are skipped by Hive-style readers
//! (Spark, Trino, pyarrow, DuckDB), so leftovers never enter a query.
//!
//! This module owns the connection (endpoint, region and credentials from
//! the environment as the AWS tools read them) and the key layout; what
//! goes in an object belongs to the sink that writes it.

use std::io::{self, Write};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;

use super::SinkError;

/// The folder of temporary objects, beside the output (skipped by readers: it starts with `_`).
pub const TEMP_DIR: &str = "_leadpipe_tmp";

/// Where an `s3://` output goes, parsed from the sink's `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// The key without a trailing `/` (a dataset folder when partitioned).
    pub key: String,
}

impl Location {
    /// `Some` for an `s3://` path, `Err` when it is one but is malformed.
    pub fn parse(path: &str) -> Option<Result<Location, String>> {
        let rest = path.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let key = key.trim_end_matches('/');
        if bucket.is_empty() {
            return Some(Err(format!("{path}: no bucket (expected s3://bucket/prefix/name)")));
        }
        if key.is_empty() {
            return Some(Err(format!(
                "{path}: no key under the bucket (expected s3://bucket/prefix/name)"
            )));
        }
        if key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Some(Err(format!("{path}: a key cannot have empty, `.` or `..` segments")));
        }
        Some(Ok(Location {
            bucket: bucket.to_string(),
            key: key.to_string(),
        }))
    }

    /// The temporary prefix of this output: `<dir>/_leadpipe_tmp/<name>`.
    pub fn temp_prefix(&self) -> String {
        match self.key.rsplit_once('/') {
            Some((dir, name)) => format!("{dir}/{TEMP_DIR}/{name}"),
            None => format!("{TEMP_DIR}/{}", self.key),
        }
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// How to reach the object store: the sink's keys, the rest from the environment.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `endpoint` in the pipeline (MinIO, R2, a local server); else `AWS_ENDPOINT_URL`/`AWS_ENDPOINT`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

/// Open the bucket. Credentials, region and endpoint come from the
/// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION`/`AWS_REGION`,
/// `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`) unless the sink sets them. An
/// endpoint written with `http://` allows plain HTTP to it.
pub fn open_store(loc: &Location, conn: &Connection) -> Result<Arc<dyn ObjectStore>, SinkError> {
    // The HTTP client is our reqwest, built on rustls with ring (as every vendor client is).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&loc.bucket);
    let endpoint = conn
        .endpoint
        .clone()
        .filter(|e| !e.is_empty())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok().filter(|e| !e.is_empty()));
    if let Some(endpoint) = endpoint {
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
        builder = builder.with_endpoint(endpoint);
    }
    let region = conn
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()));
    if let Some(region) = region {
        builder = builder.with_region(region);
    }
    let store = builder
        .build()
        .map_err(|source| SinkError::ObjectStore { url: loc.url(), source })?;
    Ok(Arc::new(store))
}

fn store_error(what: &str, e: object_store::Error) -> SinkError {
    SinkError::Object {
        what: what.to_string(),
        source: e,
    }
}

/// Every object under `prefix/` (a folder, not a name prefix).
pub async fn list(store: &dyn ObjectStore, prefix: &str) -> Result<Vec<Key>, SinkError> {
    let prefix = Key::from(prefix);
    store
        .list(Some(&prefix))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await
        .map_err(|e| store_error(&format!("listing {prefix}/"), e))
}

/// Delete what a previous, unfinished run left under this output's temporary prefix.
pub async fn clean_leftovers(store: &dyn ObjectStore, loc: &Location) -> Result<usize, SinkError> {
    let leftovers = list(store, &loc.temp_prefix()).await?;
    for key in &leftovers {
        delete(store, key).await?;
    }
    if !leftovers.is_empty() {
        tracing::info!(
            output = %loc.url(),
            objects = leftovers.len(),
            "removed temporary objects an unfinished run left"
        );
    }
    Ok(leftovers.len())
}

async fn delete(store: &dyn ObjectStore, key: &Key) -> Result<(), SinkError> {
    match store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(store_error(&format!("deleting {key}"), e)),
    }
}

/// One object being uploaded under its temporary key, written through
/// `std::io::Write` from a sink's own thread (never from async code).
pub struct Upload {
    rt: Handle,
    writer: object_store::buffered::BufWriter,
    temp: Key,
    /// Where the object goes when the run completes.
    pub final_key: Key,
}

impl Upload {
    pub fn new(rt: Handle, store: Arc<dyn ObjectStore>, temp: Key, final_key: Key, part_size: usize) -> Upload {
        let writer = object_store::buffered::BufWriter::with_capacity(store, temp.clone(), part_size);
        Upload {
            rt,
            writer,
            temp,
            final_key,
        }
    }

    /// Complete the upload (the temporary object exists whole from here on).
    pub fn complete(mut self) -> io::Result<Uploaded> {
        self.rt.block_on(self.writer.shutdown())?;
        Ok(Uploaded {
            temp: self.temp,
            final_key: self.final_key,
        })
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.rt.block_on(self.writer.write_all(buf))?;
        Ok(buf.len())
    }

    /// Parts go up as they fill; nothing to push early.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An object uploaded whole under its temporary key.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub temp: Key,
    pub final_key: Key,
}

/// A run's uploaded objects, published together when the run completed.
pub struct Staged {
    pub store: Arc<dyn ObjectStore>,
    pub location: Location,
    pub objects: Vec<Uploaded>,
    /// Final objects of earlier runs this run replaces: those under these
    /// folders named `stale_name` and not rewritten by this run are deleted
    /// after publishing (so a partition that has no rows any more goes).
    pub replaces: Vec<String>,
    pub stale_name: String,
}

impl Staged {
    /// Copy every object to its final key, drop the previous output's other
    /// objects in the replaced prefixes, then remove the temporary objects.
    pub async fn publish(self) -> Result<(), SinkError> {
        let store = self.store.as_ref();
        for o in &self.objects {
            store
                .copy(&o.temp, &o.final_key)
                .await
                .map_err(|e| store_error(&format!("publishing {} as {}", o.temp, o.final_key), e))?;
        }
        let written: std::collections::HashSet<&Key> = self.objects.iter().map(|o| &o.final_key).collect();
        let temp = self.location.temp_prefix();
        for prefix in &self.replaces {
            for key in list(store, prefix).await? {
                let stale = key.filename() == Some(self.stale_name.as_str())
                    && !written.contains(&key)
                    && !key.as_ref().starts_with(&temp);
                if stale {
                    delete(store, &key).await?;
                }
            }
        }
        for o in &self.objects {
            delete(store, &o.temp).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_paths_parse_into_bucket_and_key() {
        assert_eq!(Location::parse("out/a.parquet"), None);
        let loc = Location::parse("s3://lake/crm/contacts/").unwrap().unwrap();
        assert_eq!(loc.bucket, "lake");
        assert_eq!(loc.key, "crm/contacts");
        assert_eq!(loc.temp_prefix(), "crm/_leadpipe_tmp/contacts");
        assert_eq!(
            Location::parse("s3://lake/c.parquet").unwrap().unwrap().temp_prefix(),
            "_leadpipe_tmp/c.parquet"
        );
        assert!(Location::parse("s3://lake").unwrap().is_err());
        assert!(Location::parse("s3:///x").unwrap().is_err());
        assert!(Location::parse("s3://lake/a//b").unwrap().is_err());
    }
}
