//! Named lists (`rules/lists/<name>.txt`): one host or parameter per line, `#` comments.
