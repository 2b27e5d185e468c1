//! Terminal output shared by the subcommands: styles, and a stdout that
//! keeps them only on a terminal that wants colour (anstream drops them
//! when stdout is not a tty, when `NO_COLOR` is set and non-empty, or when
//! `TERM=dumb`).

use anstyle::{AnsiColor, Style};
use std::io::{self, Write};

pub const HEADER: Style = Style::new().bold().underline();
pub const PROGRAM: Style = Style::new().bold();
pub const CALLER: Style = AnsiColor::Yellow.on_default().bold();
pub const LEAK: Style = AnsiColor::Red.on_default().bold();
pub const KEPT: Style = AnsiColor::Green.on_default();
pub const NOTE: Style = Style::new().dimmed();

/// `text` in `style` (the caller's stream strips it where colour is off).
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// Writes `text` to stdout, styles kept only where colour is wanted.
pub fn print(text: &str) -> io::Result<()> {
    let mut out = anstream::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Left-aligns `cells` in columns two spaces apart; a column listed in
/// `right` is right-aligned. Widths count characters, not style codes.
pub fn table(rows: &[Vec<String>], right: &[usize]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| visible_width(cell))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c].saturating_sub(visible_width(cell));
            let last = c + 1 == row.len();
            if c > 0 {
                line.push_str("  ");
            }
            if right.contains(&c) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if !last {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Characters of `text` outside ANSI escape sequences.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_despite_styles() {
        let rows = vec![
            vec!["FD".into(), "TARGET".into()],
            vec![paint(LEAK, "10"), "/x".into()],
            vec!["3".into(), "socket:[1]".into()],
        ];
        let text = table(&rows, &[0]);
        let plain: Vec<String> = text
            .lines()
            .map(|l| {
                l.replace(&LEAK.render().to_string(), "")
                    .replace(&LEAK.render_reset().to_string(), "")
            })
            .collect();
        assert_eq!(plain, ["FD  TARGET", "10  /x", " 3  socket:[1]"]);
    }
}
