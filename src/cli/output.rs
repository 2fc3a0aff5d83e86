//! Printing for the CLI: errors with their cause chain; what a command shows, as JSON with
//! `--json` or as text (`print_list`: a table, `print_one`: the command's own text,
//! `print_fields`: labelled lines); progress bars; and reading passwords from a prompt or
//! standard input (never from a flag).

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::app::AppError;
use crate::domain::Secret;

pub fn print_error(e: &anyhow::Error) {
    if let Some(AppError::Validation(errors)) = e.downcast_ref::<AppError>() {
        for v in &errors.0 {
            eprintln!("error: {}: {} ({})", v.field, v.message, v.rule);
        }
        return;
    }
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// One value: JSON with `--json`, else as `text` prints it for people.
pub fn print_one<T: Serialize>(value: &T, json: bool, text: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        return print_json(value);
    }
    text(value);
    Ok(())
}

/// A list: JSON with `--json`, else a table under `header` with `row` of each item.
pub fn print_list<T: Serialize>(
    items: &[T],
    json: bool,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    print_one(&items, json, |items| {
        let rows: Vec<Vec<String>> = items.iter().map(row).collect();
        print_table(header, &rows);
    })
}

/// `label value` lines, the labels padded to `width`.
pub fn print_fields(width: usize, rows: &[(&str, String)]) {
    for (label, value) in rows {
        println!("{label:<width$} {value}");
    }
}

/// A progress bar on standard error drawn with `template` (indicatif's), for `advance`.
pub fn progress_bar(template: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Moves `bar` on: `done` of `total`.
pub fn advance(bar: &ProgressBar, done: u64, total: u64) {
    bar.set_length(total);
    bar.set_position(done);
}

/// Prints rows as left-aligned columns under a header.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Reads all of standard input as one or more passwords, one per line (line ends removed,
/// nothing else trimmed).
pub fn read_stdin_lines() -> anyhow::Result<Vec<Secret>> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the password from standard input")?;
    let secrets: Vec<Secret> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| Secret::new(l.to_string()))
        .collect();
    zeroize::Zeroize::zeroize(&mut text);
    Ok(secrets)
}

/// One password: from standard input, or typed at a prompt (twice when `confirm`).
pub fn read_password(from_stdin: bool, label: &str, confirm: bool) -> anyhow::Result<Secret> {
    read_secret(from_stdin, label, "--password-stdin", confirm)
}

/// One secret named `label`: from standard input (the command's flag `stdin_flag`), or typed
/// at a prompt (twice when `confirm`).
pub fn read_secret(
    from_stdin: bool,
    label: &str,
    stdin_flag: &str,
    confirm: bool,
) -> anyhow::Result<Secret> {
    let what = label.to_lowercase();
    if from_stdin {
        return read_stdin_lines()?
            .into_iter()
            .next()
            .with_context(|| format!("standard input held no {what}"));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the {what}: pass it on standard input with {stdin_flag}");
    }
    let first = Secret::new(rpassword::prompt_password(format!("{label}: "))?);
    if confirm {
        let second = Secret::new(rpassword::prompt_password(format!("Confirm {label}: "))?);
        if first != second {
            bail!("the two entries do not match; nothing was changed");
        }
    }
    Ok(first)
}

/// Runs a change that may need the mailbox password again (SPEC §1.3: a stored password is only
/// sent where it was saved for). With `--password-stdin` the password goes with the first try;
/// otherwise, when the change needs it, it is asked for at the terminal and the change is tried
/// once more.
pub async fn with_password_if_needed<T, F, Fut>(
    password_stdin: bool,
    mut op: F,
) -> anyhow::Result<T>
where
    F: FnMut(Option<Secret>) -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let given = if password_stdin {
        Some(read_password(true, "Password", false)?)
    } else {
        None
    };
    let asked = given.is_some();
    match op(given).await {
        Err(AppError::Validation(e)) if !asked && e.first().rule == "password_required" => {
            if !std::io::stdin().is_terminal() {
                bail!(
                    "{} Pass it on standard input with --password-stdin.",
                    e.first().message
                );
            }
            eprintln!("{}", e.first().message);
            let password = read_password(false, "Mailbox password", false)?;
            Ok(op(Some(password)).await?)
        }
        other => Ok(other?),
    }
}
