//! Go's `text/tabwriter` as kubectl configures it (min width 10, padding 3, spaces), so tables
//! come out byte for byte as kubectl prints them. Written by hand: the alignment rules are Go's.

/// Aligns rows of cells: every cell but the last of a row is padded to its column's width
/// (widest cell + 3, at least 10 characters). Rows may have different lengths, as with Go.
pub fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(|r| r.len().saturating_sub(1)).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter(|r| r.len() > c + 1).map(|r| r[c].chars().count() + 3).max().unwrap_or(0).max(10))
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < row.len() {
                out.push_str(&" ".repeat(widths[c] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kubectl_can_i_list() {
        let rows = vec![
            vec!["Resources".into(), "Non-Resource URLs".into(), "Resource Names".into(), "Verbs".into()],
            vec!["pods".into(), "[]".into(), "[]".into(), "[get]".into()],
            vec!["".into(), "[/api]".into(), "[]".into(), "[get]".into()],
        ];
        assert_eq!(
            render(&rows),
            "Resources   Non-Resource URLs   Resource Names   Verbs\n\
             pods        []                  []               [get]\n\
             \x20           [/api]              []               [get]\n"
        );
    }
}
