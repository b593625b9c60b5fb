//! Link, host, style and exception tables → their compiled forms (element rules live in [`super::element`]).
//!
//! Each function reports every problem of its table and returns `None` when there was any.

use super::element::check_tag_name;
use super::raw::{RawBlock, RawEmbedded, RawExemptFrom, RawPass, RawStrip, RawStyle, RawUnwrap, Text};
use super::source::{Diagnostics, Pos};
use super::values::{Case, Ctx};
use super::{HostRule, HostSet, PassKind, PassRule, RuleId, StripRule, TagStyle, UnwrapRule, UnwrapTarget};

/// A compiled `[[exception]]`, applied once every file is loaded (it may name rules of later files).
#[derive(Debug)]
pub(crate) struct Exception {
    /// The exception's id.
    pub id: RuleId,
    /// The sites it covers.
    pub sites: HostSet,
    /// The rules it switches off, each with where it is named; `None` exempts the sites from all rewriting.
    pub rules: Option<Vec<(String, Pos)>>,
}

/// Compiles a `[[strip]]` rule.
pub(crate) fn strip(raw: RawStrip, ctx: &Ctx<'_, '_>, diags: &mut Diagnostics) -> Option<StripRule> {
    let id = raw.id.get_ref();
    let case = if raw.case_sensitive == Some(true) { Case::Sensitive } else { Case::Insensitive };
    let params = ctx.values.non_empty_params(&raw.params, "params", case, id, ctx.src, diags);
    let hosts =
        raw.hosts.as_ref().map(|hosts| ctx.values.non_empty_hosts(hosts, "hosts", id, ctx.src, diags));
    let scope = ctx.scope(raw.sites.as_deref(), raw.except_sites.as_deref(), diags);
    let hosts = match hosts {
        Some(hosts) => Some(hosts?),
        None => None,
    };
    Some(StripRule { id: RuleId::new(id), params: params?, hosts, scope: scope? })
}

/// Compiles an `[[unwrap]]` rule: wrapper hosts and exactly one of `param`, `params`, `embedded`.
pub(crate) fn unwrap(raw: RawUnwrap, ctx: &Ctx<'_, '_>, diags: &mut Diagnostics) -> Option<UnwrapRule> {
    let id = raw.id.get_ref();
    let hosts = ctx.values.non_empty_hosts(&raw.hosts, "hosts", id, ctx.src, diags);
    let target = unwrap_target(&raw, ctx, diags);
    let scope = ctx.scope(raw.sites.as_deref(), raw.except_sites.as_deref(), diags);
    Some(UnwrapRule { id: RuleId::new(id), hosts: hosts?, target: target?, scope: scope? })
}

fn unwrap_target(raw: &RawUnwrap, ctx: &Ctx<'_, '_>, diags: &mut Diagnostics) -> Option<UnwrapTarget> {
    let id = raw.id.get_ref();
    let given = [raw.param.is_some(), raw.params.is_some(), raw.embedded.is_some()];
    let at_id = ctx.src.pos(&raw.id.span());
    match given.iter().filter(|g| **g).count() {
        0 => {
            diags.error(
                &at_id,
                format!("rule `{id}`: an [[unwrap]] rule needs `param`, `params` or `embedded = \"path\"`"),
            );
            return None;
        }
        1 => {}
        _ => {
            diags.error(&at_id, format!("rule `{id}`: give only one of `param`, `params` and `embedded`"));
            return None;
        }
    }
    if let Some(embedded) = &raw.embedded {
        return match embedded.get_ref() {
            RawEmbedded::Path => Some(UnwrapTarget::PathEmbedded),
        };
    }
    let names: Vec<&Text> = match (&raw.param, &raw.params) {
        (Some(param), _) => vec![param],
        (None, Some(params)) if params.get_ref().is_empty() => {
            diags.error(&ctx.src.pos(&params.span()), format!("rule `{id}`: `params` is empty"));
            return None;
        }
        (None, Some(params)) => params.get_ref().iter().collect(),
        (None, None) => return None,
    };
    let mut ok = true;
    for name in &names {
        let text = name.get_ref();
        let bad = text.chars().find(|c| c.is_whitespace() || matches!(c, '=' | '&' | '#' | '*' | '?' | '@'));
        if text.is_empty() || bad.is_some() {
            diags.error(
                &ctx.src.pos(&name.span()),
                format!("rule `{id}`: {text:?} is not a query parameter name"),
            );
            ok = false;
        }
    }
    ok.then(|| UnwrapTarget::QueryParam(names.iter().map(|n| n.get_ref().clone()).collect()))
}

/// Compiles a `[[block]]` rule.
pub(crate) fn block(raw: RawBlock, ctx: &Ctx<'_, '_>, diags: &mut Diagnostics) -> Option<HostRule> {
    let hosts = ctx.values.non_empty_hosts(&raw.hosts, "hosts", raw.id.get_ref(), ctx.src, diags);
    let except = ctx.values.hosts(raw.except_hosts.as_deref().unwrap_or_default(), ctx.src, diags);
    Some(HostRule { id: RuleId::new(raw.id.get_ref()), hosts: hosts?, except: except? })
}

/// Compiles a `[[pass]]` rule.
pub(crate) fn pass(raw: RawPass, ctx: &Ctx<'_, '_>, diags: &mut Diagnostics) -> Option<PassRule> {
    let hosts = ctx.values.non_empty_hosts(&raw.hosts, "hosts", raw.id.get_ref(), ctx.src, diags)?;
    let exempt_from = match raw.exempt_from {
        RawExemptFrom::Mitm => PassKind::Mitm,
        RawExemptFrom::Rewrite => PassKind::Rewrite,
    };
    Some(PassRule { id: RuleId::new(raw.id.get_ref()), hosts, exempt_from })
}

/// Compiles a `[[style]]`: a valid tag name and CSS that cannot close the `<style>` element it goes into.
pub(crate) fn style(raw: RawStyle, ctx: &Ctx<'_, '_>, diags: &mut Diagnostics) -> Option<TagStyle> {
    let tag = raw.tag.get_ref();
    let mut ok = true;
    if let Err(message) = check_tag_name(tag) {
        diags.error(&ctx.src.pos(&raw.tag.span()), format!("style: {message}"));
        ok = false;
    }
    let css = raw.css.get_ref();
    if css.trim().is_empty() {
        diags.error(&ctx.src.pos(&raw.css.span()), format!("style for tag `{tag}`: `css` is empty"));
        ok = false;
    } else if css.contains('<') {
        diags.error(
            &ctx.src.pos(&raw.css.span()),
            format!(
                "style for tag `{tag}`: `css` must not contain `<` (it is injected inside a <style> element)"
            ),
        );
        ok = false;
    }
    ok.then(|| TagStyle { tag: tag.as_str().into(), css: css.clone() })
}

/// Compiles an `[[exception]]` (its rule names are checked later, against every file).
pub(crate) fn exception(
    raw: super::raw::RawException,
    ctx: &Ctx<'_, '_>,
    diags: &mut Diagnostics,
) -> Option<Exception> {
    let id = raw.id.get_ref();
    let sites = ctx.values.non_empty_hosts(&raw.sites, "sites", id, ctx.src, diags);
    let rules = match &raw.rules {
        Some(rules) if rules.get_ref().is_empty() => {
            let message =
                format!("rule `{id}`: `rules` is empty (omit it to exempt the sites from all rewriting)");
            diags.error(&ctx.src.pos(&rules.span()), message);
            return None;
        }
        Some(rules) => {
            Some(rules.get_ref().iter().map(|r| (r.get_ref().clone(), ctx.src.pos(&r.span()))).collect())
        }
        None => None,
    };
    Some(Exception { id: RuleId::new(id), sites: sites?, rules })
}
