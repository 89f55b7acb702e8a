//! Files the agent must never leave half-written: its machine identity and, per order, its
//! state. Each is written to a temporary file beside it, synced, then renamed over it, so a crash
//! leaves either the old or the new content.

use crate::ClientError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `value` as pretty JSON, atomically and durably.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ClientError> {
    let dir = path
        .parent()
        .ok_or_else(|| ClientError::Config(format!("{} has no directory", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    let bytes = serde_json::to_vec_pretty(value).expect("state types serialize");
    let temporary = path.with_extension("tmp");
    (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself is durable once the directory is synced.
        std::fs::File::open(dir)?.sync_all()
    })()
    .map_err(|e| ClientError::io(path, e))
}

/// `path`'s JSON, or `None` when there is no such file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ClientError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClientError::io(path, e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        ClientError::Config(format!(
            "{} is not what this agent wrote ({e}); move it away to start over",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_files_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), None);
        write_json(&path, &vec![1u32, 2, 3]).unwrap();
        write_json(&path, &vec![4u32]).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), Some(vec![4]));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_foreign_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("machine.json");
        std::fs::write(&path, b"{not json").unwrap();
        let error = read_json::<Vec<u32>>(&path).unwrap_err().to_string();
        assert!(error.contains("machine.json"), "{error}");
    }
}
