//! Loading labelled pages: the `<!-- eval: … -->` instruction line and splicing into a corpus page.

use std::fmt;
use std::path::{Path, PathBuf};

/// The site a page is served from when its instruction line names none.
pub const DEFAULT_SITE: &str = "news.example";

/// Comments put around spliced content, so that its extent can be found again after the labelling pass.
pub(super) const SPLICE_START: &str = "<!--strainer-eval-splice-start-->";
/// See [`SPLICE_START`].
pub(super) const SPLICE_END: &str = "<!--strainer-eval-splice-end-->";

/// A labelled page ready to be scored.
#[derive(Debug)]
pub struct LabelledPage {
    /// The file it came from.
    pub path: PathBuf,
    /// The host the page is served from.
    pub site: String,
    /// The whole page (a spliced page includes the corpus page around the labelled content).
    pub html: String,
    /// Whether only the content between [`SPLICE_START`] and [`SPLICE_END`] counts.
    pub spliced: bool,
}

/// Why a labelled folder or page could not be read.
#[derive(Debug)]
pub struct PageError {
    /// The file (or folder) at fault.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for PageError {}

/// Every `*.html` page of `dir`, in file-name order.
pub fn load_dir(dir: &Path) -> Result<Vec<LabelledPage>, PageError> {
    let error = |message: String| PageError { path: dir.to_owned(), message };
    let entries = std::fs::read_dir(dir).map_err(|err| error(format!("cannot read the folder: {err}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|err| error(format!("cannot list the folder: {err}")))?.path();
        if path.extension().is_some_and(|ext| ext == "html") {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(error("holds no labelled `.html` page".to_owned()));
    }
    paths.sort();
    paths.iter().map(|path| load_page(path)).collect()
}

/// One labelled page, spliced into its corpus page when its instruction line asks for it.
pub fn load_page(path: &Path) -> Result<LabelledPage, PageError> {
    let error = |message: String| PageError { path: path.to_owned(), message };
    let text =
        std::fs::read_to_string(path).map_err(|err| error(format!("cannot read it as UTF-8: {err}")))?;
    let (instruction, content) = split_instruction(&text).map_err(error)?;
    let site = instruction.get("site").unwrap_or(DEFAULT_SITE).to_owned();
    let Some(host_page) = instruction.get("splice-into") else {
        return Ok(LabelledPage { path: path.to_owned(), site, html: content.to_owned(), spliced: false });
    };
    let Some(marker) = instruction.get("before") else {
        return Err(error("`splice-into` needs `before`, the text the content goes in front of".to_owned()));
    };
    let host_path = path.parent().unwrap_or(Path::new(".")).join(host_page);
    let host = std::fs::read_to_string(&host_path).map_err(|err| {
        error(format!(
            "cannot read the page to splice into, {}: {err} (is the corpus beside the checkout?)",
            host_path.display()
        ))
    })?;
    let Some(at) = host.find(marker) else {
        return Err(error(format!("{} does not contain {marker:?}", host_path.display())));
    };
    let html = format!("{}{SPLICE_START}{content}{SPLICE_END}{}", &host[..at], &host[at..]);
    Ok(LabelledPage { path: path.to_owned(), site, html, spliced: true })
}

/// The `key="value"` pairs of a first-line `<!-- eval: … -->` comment.
#[derive(Debug, Default)]
struct Instruction {
    pairs: Vec<(String, String)>,
}

impl Instruction {
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The instruction (empty when the page has none) and the content after it.
fn split_instruction(text: &str) -> Result<(Instruction, &str), String> {
    let Some(rest) = text.trim_start().strip_prefix("<!-- eval:") else {
        return Ok((Instruction::default(), text));
    };
    let Some(end) = rest.find("-->") else {
        return Err("the `<!-- eval:` instruction is not closed with `-->`".to_owned());
    };
    let mut pairs = Vec::new();
    let mut body = rest[..end].trim();
    while !body.is_empty() {
        let Some((key, after)) = body.split_once("=\"") else {
            return Err(format!("cannot read `{body}` in the instruction: write key=\"value\""));
        };
        let Some((value, after)) = after.split_once('"') else {
            return Err(format!("the value of `{}` is not closed with `\"`", key.trim()));
        };
        let key = key.trim();
        if !matches!(key, "site" | "splice-into" | "before") {
            return Err(format!("unknown instruction key `{key}` (known: site, splice-into, before)"));
        }
        pairs.push((key.to_owned(), value.to_owned()));
        body = after.trim_start();
    }
    Ok((Instruction { pairs }, &rest[end + 3..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_are_read_and_bad_ones_refused() {
        let (instruction, content) =
            split_instruction("<!-- eval: site=\"a.example\" before=\"</body>\" -->\n<p>x</p>")
                .unwrap_or_default();
        assert_eq!(instruction.get("site"), Some("a.example"));
        assert_eq!(instruction.get("before"), Some("</body>"));
        assert_eq!(content, "\n<p>x</p>");
        assert!(split_instruction("<!-- eval: colour=\"red\" -->").is_err());
        assert!(split_instruction("<!-- eval: site=\"a -->").is_err());
        assert!(split_instruction("<!-- eval: site=\"a\"").is_err());
        let (none, all) = split_instruction("<p>plain</p>").unwrap_or_default();
        assert!(none.pairs.is_empty() && all == "<p>plain</p>");
    }
}
