//! Rule files (raw TOML) → [`RuleSet`], collecting every error at once.
//!
//! Reads every `*.toml` in the rules directory in file-name order (hidden files and editor leftovers such as
//! `.#x.toml`, `x.toml~`, `x.swp` are skipped) plus the named lists in `lists/`. Each file is parsed with error
//! recovery, then each rule table is deserialized and compiled on its own, so one mistake never hides another.
//! Exceptions are applied last, because they may name rules of any file.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::element::{self, ElementKind};
use super::kinds::{self, Exception};
use super::lists::NamedLists;
use super::patterns::{self, Patterns};
use super::raw::{RawBlock, RawElementRule, RawException, RawPass, RawStrip, RawStyle, RawUnwrap};
use super::source::{Diagnostics, Pos, Source};
use super::values::{Ctx, Values};
use super::{
    ElementAction, FileSummary, HostSet, PassKind, PassRule, RuleError, RuleId, RuleOrigin, RuleSet,
    RuleWarning, SiteScope, TagStyle,
};

/// What `strainer check` reports for a rules directory.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every error found; empty when the set loads.
    pub errors: Vec<RuleError>,
    /// Warnings (never-matching rules, duplicate entries, …).
    pub warnings: Vec<RuleWarning>,
    /// Number of rules per file, when the set loaded.
    pub files: Vec<(String, usize)>,
    /// What each filter list (`filters/*.txt`) gave, and every line it skipped, when the set loaded.
    pub filters: Vec<crate::filters::FileReport>,
}

/// Loads and compiles every rule file in `dir`. On failure returns every error found (sorted by file, line and
/// column). A missing or unreadable directory is an error; an empty one is a valid empty set.
pub fn load_dir(dir: &Path) -> Result<(RuleSet, Vec<RuleWarning>), Vec<RuleError>> {
    let names = file_names(dir, "toml").map_err(|err| {
        vec![RuleError {
            file: dir.display().to_string(),
            line: 1,
            col: 1,
            message: format!("cannot read the rules directory: {err}"),
        }]
    })?;
    let mut diags = Diagnostics::default();
    let lists = NamedLists::load(dir, &mut diags);
    let values = Values::new(&lists);
    let mut builder = Builder::default();
    let mut order: Vec<Arc<str>> = Vec::new();
    let mut texts = Vec::new();
    for name in names {
        let file: Arc<str> = Arc::from(name.as_str());
        order.push(Arc::clone(&file));
        match std::fs::read_to_string(dir.join(&name)) {
            Ok(text) => texts.push((file, text)),
            Err(err) => diags.error(&Pos::new(&file, 1, 1), format!("cannot read rule file: {err}")),
        }
    }
    // Every file's `[patterns]` first: a rule may use a fragment written in another file.
    let mut patterns = Patterns::default();
    for (file, text) in &texts {
        patterns.add_file(&Source::new(file, text), &mut diags);
    }
    patterns.check(&mut diags);
    for (file, text) in &texts {
        builder.add_file(&Source::new(file, text), &values, &patterns, &mut diags);
    }
    let mut set = builder.finish(&mut diags);
    order.extend(lists.files());
    let filters = crate::filters::load(dir);
    add_filter_lists(&mut set, filters, &mut diags, &mut order);
    diags.finish(&order);
    if diags.errors.is_empty() {
        Ok((set, diags.warnings))
    } else {
        Err(diags.errors)
    }
}

/// Adds the filter lists of `filters/` to `set`. Their lines never fail a load: an unreadable file is an error
/// like an unreadable rule file, but a line strainer cannot honour is counted, and one warning per file says
/// how many were skipped (`strainer check` lists each).
fn add_filter_lists(
    set: &mut RuleSet,
    filters: crate::filters::Loaded,
    diags: &mut Diagnostics,
    order: &mut Vec<Arc<str>>,
) {
    for (file, message) in &filters.file_errors {
        diags.error(&Pos::new(&Arc::from(file.as_str()), 1, 1), message.clone());
    }
    set.element_rules.extend(filters.element_rules);
    let Some(lists) = filters.lists else {
        return;
    };
    for report in lists.files() {
        let file: Arc<str> = Arc::from(report.file.as_str());
        order.push(Arc::clone(&file));
        if !report.skipped.is_empty() {
            let message = format!(
                "{} of {} rule lines cannot be honoured and are skipped (`strainer check` lists them)",
                report.skipped.len(),
                report.skipped.len() + report.taken_total()
            );
            diags.warn(&Pos::new(&file, 1, 1), message);
        }
    }
    if !lists.params().is_empty() {
        set.links = std::mem::take(&mut set.links).with_param_filter(lists.params());
    }
    set.filters = Some(Arc::new(lists));
}

/// Loads `dir` and reports every error and warning, for `strainer check`.
pub fn check_dir(dir: &Path) -> CheckReport {
    match load_dir(dir) {
        Ok((set, warnings)) => CheckReport {
            errors: Vec::new(),
            warnings,
            files: set.files.iter().map(|f| (f.file.clone(), f.rule_ids.len())).collect(),
            filters: set.filters.as_ref().map(|f| f.files().to_vec()).unwrap_or_default(),
        },
        Err(errors) => CheckReport { errors, ..CheckReport::default() },
    }
}

/// Names of the regular, non-hidden files in `dir` ending in `.{ext}`, sorted. Editor leftovers (`x.toml~`,
/// `.x.toml.swp`, `.#x.toml`, vim's `4913`) never end in `.{ext}` or are hidden, so they are skipped.
pub(crate) fn file_names(dir: &Path, ext: &str) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        let wanted = !name.starts_with('.')
            && Path::new(&name).extension().is_some_and(|e| e == ext)
            && entry.path().is_file();
        if wanted {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The rule kinds, i.e. the top-level keys of a rule file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Remove,
    Tag,
    Style,
    Strip,
    Unwrap,
    Block,
    Pass,
    Exception,
}

const KINDS: [Kind; 8] = [
    Kind::Remove,
    Kind::Tag,
    Kind::Style,
    Kind::Strip,
    Kind::Unwrap,
    Kind::Block,
    Kind::Pass,
    Kind::Exception,
];

/// The rule set under construction, plus what is needed to check ids and exceptions across files.
#[derive(Default)]
struct Builder {
    set: RuleSet,
    /// Every rule id seen, with its kind and where it was defined.
    ids: HashMap<String, (Kind, Pos)>,
    /// Styles with where they were written (for the unused-tag warning).
    styles: Vec<(TagStyle, Pos)>,
    exceptions: Vec<Exception>,
}

// === impl Kind ===

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Remove => "remove",
            Kind::Tag => "tag",
            Kind::Style => "style",
            Kind::Strip => "strip",
            Kind::Unwrap => "unwrap",
            Kind::Block => "block",
            Kind::Pass => "pass",
            Kind::Exception => "exception",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        KINDS.into_iter().find(|k| k.name() == key)
    }

    /// Can an `[[exception]]` switch this kind of rule off for a site?
    fn has_site_scope(self) -> bool {
        matches!(self, Kind::Remove | Kind::Tag | Kind::Strip | Kind::Unwrap)
    }
}

// === impl Builder ===

impl Builder {
    /// Parses one rule file and compiles each of its rule tables, in the order written.
    fn add_file(
        &mut self,
        src: &Source<'_>,
        values: &Values<'_>,
        patterns: &Patterns,
        diags: &mut Diagnostics,
    ) {
        let Some(tables) = rule_tables(src, diags) else { return };
        let ctx = Ctx { src, values, patterns };
        let mut summary = FileSummary { file: src.name().to_string(), rule_ids: Vec::new() };
        for (kind, table) in tables {
            let origin = RuleOrigin { file: Arc::clone(src.name()), line: src.pos(&table.span()).line };
            if let Some(id) = self.add_rule(kind, table, origin, &ctx, diags) {
                summary.rule_ids.push(id);
            }
        }
        self.set.files.push(summary);
    }

    /// Deserializes and compiles one rule table; returns its id when it has one.
    fn add_rule(
        &mut self,
        kind: Kind,
        table: Spanned<DeValue<'_>>,
        origin: RuleOrigin,
        ctx: &Ctx<'_, '_>,
        diags: &mut Diagnostics,
    ) -> Option<RuleId> {
        let at = ctx.src.pos(&table.span());
        let peeked_id = peek_id(&table);
        let label = match &peeked_id {
            Some(id) => format!("rule `{id}`"),
            None => format!("[[{}]]", kind.name()),
        };
        macro_rules! raw {
            ($ty:ty) => {
                match <$ty>::deserialize(ValueDeserializer::from(table)) {
                    Ok(raw) => raw,
                    Err(err) => {
                        let pos = err.span().map_or(at, |span| ctx.src.pos(&span));
                        diags.error(&pos, format!("{label}: {}", err.message()));
                        return peeked_id.map(|id| RuleId::new(&id));
                    }
                }
            };
        }
        if kind == Kind::Style {
            let raw = raw!(RawStyle);
            if let Some(style) = kinds::style(raw, ctx, diags) {
                self.styles.push((style, at));
            }
            return None;
        }
        match kind {
            Kind::Remove | Kind::Tag => {
                let raw = raw!(RawElementRule);
                let id = self.register(&raw.id, kind, ctx.src, diags);
                let element_kind = if kind == Kind::Remove { ElementKind::Remove } else { ElementKind::Tag };
                let rule = element::compile(raw, element_kind, origin, ctx, diags);
                self.set.element_rules.extend(rule);
                Some(id)
            }
            Kind::Strip => {
                let raw = raw!(RawStrip);
                let id = self.register(&raw.id, kind, ctx.src, diags);
                self.set.links.strip.extend(kinds::strip(raw, ctx, diags));
                Some(id)
            }
            Kind::Unwrap => {
                let raw = raw!(RawUnwrap);
                let id = self.register(&raw.id, kind, ctx.src, diags);
                self.set.links.unwrap.extend(kinds::unwrap(raw, ctx, diags));
                Some(id)
            }
            Kind::Block => {
                let raw = raw!(RawBlock);
                let id = self.register(&raw.id, kind, ctx.src, diags);
                self.set.hosts.block.extend(kinds::block(raw, ctx, diags));
                Some(id)
            }
            Kind::Pass => {
                let raw = raw!(RawPass);
                let id = self.register(&raw.id, kind, ctx.src, diags);
                self.set.hosts.pass.extend(kinds::pass(raw, ctx, diags));
                Some(id)
            }
            Kind::Exception => {
                let raw = raw!(RawException);
                let id = self.register(&raw.id, kind, ctx.src, diags);
                self.exceptions.extend(kinds::exception(raw, ctx, diags));
                Some(id)
            }
            Kind::Style => None,
        }
    }

    /// Checks an id (shape, uniqueness across files) and records it.
    fn register(
        &mut self,
        id: &Spanned<String>,
        kind: Kind,
        src: &Source<'_>,
        diags: &mut Diagnostics,
    ) -> RuleId {
        let pos = src.pos(&id.span());
        let text = id.get_ref();
        if text.is_empty() {
            diags.error(&pos, "empty rule id");
        } else if let Some(c) =
            text.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            diags.error(
                &pos,
                format!("rule id {text:?} contains {c:?}; ids may use ASCII letters, digits, `-`, `_`, `.`"),
            );
        }
        match self.ids.get(text) {
            Some((_, first)) => {
                diags.error(&pos, format!("duplicate rule id `{text}` (first defined at {first})"))
            }
            None => {
                self.ids.insert(text.clone(), (kind, pos));
            }
        }
        RuleId::new(text)
    }

    /// Applies exceptions, checks styles against the tags rules produce, and returns the set.
    fn finish(mut self, diags: &mut Diagnostics) -> RuleSet {
        for exception in std::mem::take(&mut self.exceptions) {
            self.apply_exception(exception, diags);
        }
        self.check_follows(diags);
        let produced: BTreeSet<&str> = self
            .set
            .element_rules
            .iter()
            .filter_map(|rule| match &rule.action {
                ElementAction::Tag(tags) => Some(tags.iter().map(|t| &**t)),
                ElementAction::Remove => None,
            })
            .flatten()
            .collect();
        for (style, pos) in &self.styles {
            if !produced.contains(&*style.tag) {
                diags.warn(pos, format!("style for tag `{}`: no [[tag]] rule adds this tag", style.tag));
            }
        }
        self.set.styles = self.styles.into_iter().map(|(style, _)| style).collect();
        // Compiled now, while loading, rather than in the first response that needs it.
        let _ = self.set.index();
        self.set
    }

    /// Every `follows` and `precedes` names a conditional element rule: only those are judged at the element's
    /// end, which is what both wait for; `precedes` does not name its own rule (an element that waits for
    /// what follows it cannot be what another waits for).
    fn check_follows(&self, diags: &mut Diagnostics) {
        let rules = &self.set.element_rules;
        for rule in rules {
            let named = rule.when.iter().flat_map(|when| {
                let follows = when.follows.iter().map(|name| ("follows", name));
                follows.chain(when.precedes.iter().map(|name| ("precedes", name)))
            });
            for (key, name) in named {
                let target = rules.iter().find(|r| r.id == *name);
                let problem = match target {
                    None => "names no element rule",
                    Some(target) if target.when.is_none() => {
                        "names a rule without content conditions, which acts at the start tag and is never judged at the end"
                    }
                    Some(target) if key == "precedes" && target.when.as_ref().is_some_and(|w| !w.precedes.is_empty()) => {
                        "names a rule that waits for what follows itself"
                    }
                    Some(_) => continue,
                };
                let pos = Pos::new(&rule.origin.file, rule.origin.line, 1);
                diags.error(&pos, format!("rule `{}`: `{key} = \"{name}\"` {problem}", rule.id));
            }
        }
    }

    /// Adds the exception's sites to each named rule's `except_sites`, or (without `rules`) exempts the sites
    /// from rewriting altogether.
    fn apply_exception(&mut self, exception: Exception, diags: &mut Diagnostics) {
        let Some(rules) = exception.rules else {
            self.set.hosts.pass.push(PassRule {
                id: exception.id,
                hosts: exception.sites,
                exempt_from: PassKind::Rewrite,
            });
            return;
        };
        for (name, pos) in rules {
            match self.ids.get(&name) {
                None => diags.error(&pos, format!("exception `{}`: unknown rule `{name}`", exception.id)),
                Some((kind, _)) if !kind.has_site_scope() => diags.error(
                    &pos,
                    format!(
                        "exception `{}`: rule `{name}` is a [[{}]] rule; exceptions switch off element and link \
                         rules only (to spare hosts from a block rule, list them in its `except_hosts`)",
                        exception.id,
                        kind.name()
                    ),
                ),
                Some(_) => {
                    if let Some(scope) = self.scope_of(&name) {
                        scope.exclude = union(&scope.exclude, &exception.sites);
                    }
                }
            }
        }
    }

    /// The site scope of the compiled element or link rule `id` (absent when the rule had errors).
    fn scope_of(&mut self, id: &str) -> Option<&mut SiteScope> {
        let set = &mut self.set;
        let element = set.element_rules.iter_mut().find(|r| r.id.as_str() == id).map(|r| &mut r.scope);
        element
            .or_else(|| set.links.strip.iter_mut().find(|r| r.id.as_str() == id).map(|r| &mut r.scope))
            .or_else(|| set.links.unwrap.iter_mut().find(|r| r.id.as_str() == id).map(|r| &mut r.scope))
    }
}

/// The rule tables of a file, in the order written, each with its kind. `None` (errors reported) when the file
/// is not valid TOML.
fn rule_tables<'i>(src: &Source<'i>, diags: &mut Diagnostics) -> Option<Vec<(Kind, Spanned<DeValue<'i>>)>> {
    let (document, errors) = DeTable::parse_recoverable(src.text());
    if !errors.is_empty() {
        for err in errors {
            let pos = err.span().map_or_else(|| Pos::new(src.name(), 1, 1), |span| src.pos(&span));
            diags.error(&pos, format!("invalid TOML: {}", err.message()));
        }
        return None;
    }
    let mut tables = Vec::new();
    for (key, value) in document.into_inner() {
        if key.get_ref() == patterns::KEY {
            continue;
        }
        let at = src.pos(&key.span());
        let Some(kind) = Kind::from_key(key.get_ref()) else {
            let mut known: Vec<_> = KINDS.iter().map(|k| format!("[[{}]]", k.name())).collect();
            known.push(format!("[{}]", patterns::KEY));
            diags
                .error(&at, format!("unknown rule kind `{}` (expected {})", key.get_ref(), known.join(", ")));
            continue;
        };
        match value.into_inner() {
            DeValue::Array(items) if items.iter().all(|item| item.get_ref().is_table()) => {
                tables.extend(items.into_iter().map(|item| (kind, item)));
            }
            _ => diags.error(
                &at,
                format!("`{0}` must be a list of tables: write each rule as [[{0}]]", kind.name()),
            ),
        }
    }
    tables.sort_by_key(|(_, table)| table.span().start);
    Some(tables)
}

/// The `id` of a rule table, if it has a string one (to name the rule in deserialization errors).
fn peek_id(table: &Spanned<DeValue<'_>>) -> Option<String> {
    let DeValue::Table(table) = table.get_ref() else { return None };
    table
        .iter()
        .find(|(key, _)| key.get_ref() == "id")
        .and_then(|(_, v)| v.get_ref().as_str().map(str::to_owned))
}

fn union(a: &HostSet, b: &HostSet) -> HostSet {
    HostSet::new(a.patterns().iter().chain(b.patterns()).cloned().collect())
}

#[cfg(test)]
mod tests;
