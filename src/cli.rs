//! The command line: `run` (default), `check`, `rewrite`, `settings`, `ca`. The only module that uses `anyhow`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, RunArgs};
use crate::rewrite::{HitAction, RewriteOptions, Rewriter};
use crate::rules::HostDecision;
use crate::{eval, proxy, rules, telemetry, tls};

/// strainer: a filtering web proxy that rewrites HTML in a stream.
#[derive(Parser, Debug)]
#[command(name = "strainer", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `run`, accepted without the subcommand name.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the proxy (the default).
    Run(RunArgs),
    /// Validate rule files; exit 1 with `file:line:col: message` per error.
    Check {
        /// Rules directory.
        #[arg(default_value = "rules")]
        dir: PathBuf,
        /// Also score the rules on a folder of labelled pages and print recall and precision per family
        /// (format: tests/fixtures/labelled/README.md).
        #[arg(long, value_name = "DIR")]
        eval: Option<PathBuf>,
    },
    /// Run the rules offline on a page and print the result.
    Rewrite {
        /// Input file, or `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// The site the page comes from (scopes rules).
        #[arg(long, value_name = "HOST")]
        site: Option<String>,
        /// List every hit (rule, action, element, excerpt) on standard error.
        #[arg(long)]
        explain: bool,
        /// Rules directory.
        #[arg(long, default_value = "rules", value_name = "DIR")]
        rules: PathBuf,
        /// Charset of the input, as an HTTP `Content-Type` would give it.
        #[arg(long, value_name = "LABEL")]
        charset: Option<String>,
    },
    /// Print every settings-file key with its default and documentation (the shipped `strainer.example.toml`).
    Settings,
    /// Manage the local CA in `certs/`.
    Ca {
        /// What to do with the CA.
        #[command(subcommand)]
        action: CaAction,
        /// Directory of the CA.
        #[arg(long, default_value = "certs", value_name = "DIR", global = true)]
        certs: PathBuf,
    },
}

/// `strainer ca` actions.
#[derive(Subcommand, Debug)]
pub enum CaAction {
    /// Create the CA unless one exists (never overwrites).
    Init,
    /// Print the CA certificate (PEM, or DER with `--der`).
    Export {
        /// Write DER bytes instead of PEM text.
        #[arg(long)]
        der: bool,
    },
    /// Print the SHA-256 fingerprint of the CA certificate.
    Fingerprint,
}

/// Runs the parsed command line and maps the outcome to an exit code (0 ok, 1 problems found, 2 failure).
pub fn main(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(args),
        Some(Command::Check { dir, eval }) => check(&dir, eval.as_deref()),
        Some(Command::Rewrite { file, site, explain, rules, charset }) => {
            rewrite(&file, site, explain, &rules, charset)
        }
        Some(Command::Settings) => {
            print!("{}", crate::settings::example_toml());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Ca { action, certs }) => ca(action, &certs),
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("strainer: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args).context("invalid settings")?;
    telemetry::init(&config.log).context("cannot set up logging")?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(proxy::run(config))?;
    Ok(ExitCode::SUCCESS)
}

fn check(dir: &Path, eval_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let report = rules::check_dir(dir);
    for warning in &report.warnings {
        eprintln!("{warning}");
    }
    for error in &report.errors {
        println!("{error}");
    }
    if !report.errors.is_empty() {
        eprintln!("{}: {} error(s); rules not loaded", dir.display(), report.errors.len());
        return Ok(ExitCode::from(1));
    }
    for (file, count) in &report.files {
        println!("{file}: {count} rule(s)");
    }
    for list in &report.filters {
        for (line, reason) in &list.skipped {
            eprintln!("{}:{line}: skipped: {reason}", list.file);
        }
        println!("{}: {} line(s) taken ({})", list.file, list.taken_total(), list.summary());
    }
    let files = report.files.len() + report.filters.len();
    println!("ok: {files} file(s), {} warning(s)", report.warnings.len());
    if let Some(eval_dir) = eval_dir {
        let (set, _) =
            rules::load_dir(dir).map_err(|_| anyhow::anyhow!("rules in {} do not load", dir.display()))?;
        let scores = eval::evaluate_dir(&Arc::new(set), eval_dir)?;
        println!("\nlabelled pages in {}: {scores}", eval_dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn rewrite(
    file: &str,
    site: Option<String>,
    explain: bool,
    rules_dir: &Path,
    charset: Option<String>,
) -> anyhow::Result<ExitCode> {
    let (set, warnings) = rules::load_dir(rules_dir).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("rules in {} do not load:\n{}", rules_dir.display(), list.join("\n"))
    })?;
    for warning in &warnings {
        eprintln!("{warning}");
    }
    let mut input: Box<dyn Read> = if file == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(file).with_context(|| format!("cannot open {file}"))?)
    };
    // Host rules decide before the engine, as in the proxy: show what the browser would get. (Host sets ignore
    // case and a trailing dot themselves.)
    let decision = site.as_deref().map(|s| set.host_decision(s));
    match decision {
        Some(HostDecision::Block(rule)) => {
            eprintln!("site blocked by rule {rule}: the proxy answers 403 without fetching the page");
            return Ok(ExitCode::SUCCESS);
        }
        Some(HostDecision::Tunnel(rule) | HostDecision::NoRewrite(rule)) => {
            eprintln!("site exempt from rewriting by rule {rule}: the page passes through unchanged");
            io::copy(&mut input, &mut io::stdout().lock()).with_context(|| format!("cannot copy {file}"))?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(HostDecision::Normal) | None => {}
    }
    // Filter lists' hiding rules for the site, as the proxy applies them: the head stylesheet and the page survey.
    let (extra_css, mut survey) = match (&set.filters, site.as_deref()) {
        (Some(filters), Some(site)) => (filters.stylesheet(site), filters.survey(site)),
        _ => (Vec::new(), None),
    };
    let options =
        RewriteOptions { site, header_charset: charset, explain, extra_css, ..RewriteOptions::default() };
    let set = Arc::new(set);
    let rules = match (&set.filters, options.site.as_deref()) {
        (Some(filters), Some(site)) => filters.rules_for(&set, site),
        _ => Arc::clone(&set),
    };
    let mut rewriter = Rewriter::new(rules, options);
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).with_context(|| format!("cannot read {file}"))?;
        if n == 0 {
            break;
        }
        let output = rewriter.write(&buf[..n]);
        if let Some(survey) = &mut survey {
            survey.feed(&output);
        }
        stdout.write_all(&output)?;
    }
    let (tail, report) = rewriter.finish();
    stdout.write_all(&tail)?;
    if let Some(mut survey) = survey {
        survey.feed(&tail);
        if let Some(style) = survey.finish() {
            stdout.write_all(style.as_bytes())?;
        }
    }
    stdout.flush()?;
    if explain {
        let mut stderr = io::stderr().lock();
        for hit in &report.hits {
            let action = match &hit.action {
                HitAction::Removed => "remove".to_owned(),
                HitAction::Tagged(tags) => format!("tag {tags}"),
                HitAction::LinkCleaned(_) => "clean-link".to_owned(),
            };
            write!(stderr, "{}\t{}\t{}\t{}", hit.rule, action, hit.element, hit.excerpt)?;
            if hit.score.is_empty() {
                writeln!(stderr)?;
            } else {
                writeln!(stderr, "\t{}", hit.score)?;
            }
        }
        writeln!(
            stderr,
            "removed={} tagged={} links_cleaned={} spilled={} bailed_out={} undecodable={}",
            report.removed,
            report.tagged,
            report.links_cleaned,
            report.spilled,
            report.bailed_out,
            report.undecodable
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn ca(action: CaAction, dir: &Path) -> anyhow::Result<ExitCode> {
    match action {
        CaAction::Init => match tls::ca::init(dir)? {
            tls::ca::CaInit::Created => println!("created a new CA in {}", dir.display()),
            tls::ca::CaInit::AlreadyPresent => {
                println!("a CA already exists in {}; left unchanged", dir.display())
            }
        },
        CaAction::Export { der } => io::stdout().write_all(&tls::ca::export(dir, der)?)?,
        CaAction::Fingerprint => println!("{}", tls::ca::fingerprint(dir)?),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_shows_the_defaults_of_the_settings_list() {
        let mut command = Cli::command();
        let help = command.find_subcommand_mut("run").expect("run subcommand").render_long_help().to_string();
        for (flag, key) in [("--listen", "listen"), ("--rules", "rules"), ("--certs", "certs")] {
            let default = crate::settings::find(key).and_then(|s| s.default).expect("listed with a default");
            let shown = format!("[default: {}]", default.trim_matches('"'));
            let at = help.find(&format!("{flag} <")).unwrap_or_else(|| panic!("{flag} missing:\n{help}"));
            let next = help[at..].find("\n  -").map_or(help.len(), |n| at + n);
            assert!(help[at..next].contains(&shown), "{flag}: expected {shown}:\n{help}");
        }
    }
}
