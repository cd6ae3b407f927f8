//! Cyclomatic complexity of Python code from Ruff's syntax tree, counted as radon counts it: 1, plus 1
//! for each `if`/`elif`, `for`, `while`, `except`, `with`, `assert`, comprehension clause (`for` and each
//! `if`), conditional expression, `match` case, and each extra operand of `and`/`or`.

use ruff_python_ast::visitor::{Visitor, walk_comprehension, walk_expr, walk_stmt};
use ruff_python_ast::{Comprehension, Expr, Stmt};

#[derive(Default)]
struct Counter {
    decisions: usize,
}

impl<'a> Visitor<'a> for Counter {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        self.decisions += match stmt {
            Stmt::If(s) => 1 + s.elif_else_clauses.iter().filter(|c| c.test.is_some()).count(),
            Stmt::For(_) | Stmt::While(_) | Stmt::With(_) | Stmt::Assert(_) => 1,
            Stmt::Try(s) => s.handlers.len(),
            Stmt::Match(s) => s.cases.len(),
            _ => 0,
        };
        walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        self.decisions += match expr {
            Expr::BoolOp(b) => b.values.len().saturating_sub(1),
            Expr::If(_) => 1,
            _ => 0,
        };
        walk_expr(self, expr);
    }

    fn visit_comprehension(&mut self, c: &'a Comprehension) {
        self.decisions += 1 + c.ifs.len();
        walk_comprehension(self, c);
    }
}

/// The cyclomatic complexity of a Python module, or the parser's message if it does not parse.
///
/// # Errors
/// The code has a syntax error.
pub fn cyclomatic(code: &str) -> Result<usize, String> {
    let parsed = ruff_python_parser::parse_module(code).map_err(|e| e.error.to_string())?;
    let mut counter = Counter::default();
    for stmt in &parsed.syntax().body {
        counter.visit_stmt(stmt);
    }
    Ok(1 + counter.decisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decision_points() {
        assert_eq!(cyclomatic("x = 1\n").unwrap(), 1);
        let code = "def f(xs):\n    if not xs:\n        return 0\n    elif len(xs) == 1 and xs[0] or True:\n        pass\n    for x in xs:\n        while x:\n            x -= 1\n    try:\n        pass\n    except ValueError:\n        pass\n    except KeyError:\n        pass\n    return [y for y in xs if y if y > 1] and (1 if xs else 2)\n";
        // if, elif, and/or (2), for, while, 2 excepts, comprehension (1 + 2 ifs), and, ternary = 13
        assert_eq!(cyclomatic(code).unwrap(), 14);
        assert!(cyclomatic("def f(:\n").is_err());
    }
}
