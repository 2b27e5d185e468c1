//! `CLOEXEC_LOG_TO=file:PATH` (and `CLOEXEC_LOG_FILE=PATH`): appended with
//! one `write(2)`, the file opened `O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC` for
//! the line and closed again. A file that cannot be opened drops the line.

use crate::settings::PathBuf;
use crate::sys;

/// Appends one finished line (newline included) to `path`.
pub fn send(path: &PathBuf, line: &[u8]) {
    if let Ok(fd) = sys::open_append(path.as_cstr()) {
        let _ = sys::write(fd, line);
        let _ = sys::close(fd);
    }
}
