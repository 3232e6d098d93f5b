//! `rudder render DIR|--path DIR [--var NAME=VALUE]...`: prints what `kubectl
//! kustomize DIR` prints. On failure nothing reaches stdout and one error
//! line (naming the file, and the line for YAML) goes to stderr; warnings
//! go to stderr either way.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Arguments of `rudder render`.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// Directory holding the kustomization to render (or give --path).
    #[arg(required_unless_present = "path", conflicts_with = "path")]
    pub dir: Option<PathBuf>,
    /// Directory holding the kustomization to render, as `sync` and `diff`
    /// take it.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// A variable for `${NAME}` substitution after rendering (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

/// Parses `--var NAME=VALUE` items.
pub fn parse_vars(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in list {
        let Some((name, value)) = item.split_once('=') else {
            bail!("--var `{item}`: expected NAME=VALUE");
        };
        if name.is_empty() {
            bail!("--var `{item}`: the variable name is empty");
        }
        out.insert(name.to_string(), value.to_string());
    }
    Ok(out)
}

/// Renders `dir` with variables, warnings to stderr: what `render`,
/// `sync` and `diff` all start with. A render error is the renderer's own,
/// which already names the file (and line).
pub fn render(
    dir: &Path,
    vars: BTreeMap<String, String>,
) -> anyhow::Result<rudder_render::Rendered> {
    let options = rudder_render::RenderOptions { vars };
    let rendered = rudder_render::render_dir(dir, &options)?;
    for warning in &rendered.warnings {
        eprintln!("{warning}");
    }
    Ok(rendered)
}

/// Runs the subcommand.
pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let dir = args
        .path
        .as_deref()
        .or(args.dir.as_deref())
        .context("give the directory to render: rudder render DIR, or --path DIR")?;
    let rendered = match parse_vars(&args.vars).and_then(|vars| render(dir, vars)) {
        Ok(r) => r,
        Err(e) => {
            // One line, no backtrace: the message already names the file.
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let text =
        rudder_render::yaml::emit::to_yaml_stream(&rendered.objects).context("writing YAML")?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    // The process ends here: freeing thousands of objects one by one would
    // cost a few percent of a big render for nothing.
    std::mem::forget(rendered);
    std::mem::forget(text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_without_equals_is_rejected() {
        assert!(parse_vars(&["REGION".to_string()]).is_err());
    }

    #[test]
    fn var_value_may_contain_equals() {
        let v = parse_vars(&["A=b=c".to_string()]).unwrap();
        assert_eq!(v["A"], "b=c");
    }
}
