//! Cyclomatic complexity of Python code from Ruff's syntax tree, as radon computes a module's total
//! (`radon.visitors.ComplexityVisitor.from_code(code).total_complexity`, what `radon cc --total-average`
//! adds up). A decision point is an `if`/`elif` or conditional expression, a `for`/`while` (one more when
//! it has an `else`), each `except` handler of a `try` (one more for its `else`; `except*` counts
//! nothing, as in radon), an `assert`, each `for` and `if` of a comprehension, each extra operand of
//! `and`/`or`, and each `match` case but one `case _` (or bare capture). `with` is not one.
//!
//! Blocks follow radon's accounting: the module counts 1 plus its own decision points; each function
//! adds the decision points of its body, but not those of the functions and classes nested in it; each
//! class adds the decision points of its body plus the complexity (1 + decisions) of each of its methods.

use ruff_python_ast::visitor::{Visitor, walk_comprehension, walk_expr, walk_stmt};
use ruff_python_ast::{Comprehension, Expr, Pattern, Stmt, StmtClassDef, StmtFunctionDef};

/// Decision points of a block's own code, and the functions and classes defined in it (not entered).
#[derive(Default)]
struct Block<'a> {
    decisions: usize,
    functions: Vec<&'a StmtFunctionDef>,
    classes: Vec<&'a StmtClassDef>,
}

impl<'a> Block<'a> {
    fn of(body: &'a [Stmt]) -> Block<'a> {
        let mut block = Block::default();
        for stmt in body {
            block.visit_stmt(stmt);
        }
        block
    }
}

impl<'a> Visitor<'a> for Block<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        self.decisions += match stmt {
            Stmt::FunctionDef(f) => {
                self.functions.push(f);
                return;
            }
            Stmt::ClassDef(c) => {
                self.classes.push(c);
                return;
            }
            Stmt::If(s) => 1 + s.elif_else_clauses.iter().filter(|c| c.test.is_some()).count(),
            Stmt::For(s) => 1 + usize::from(!s.orelse.is_empty()),
            Stmt::While(s) => 1 + usize::from(!s.orelse.is_empty()),
            Stmt::Try(s) if !s.is_star => s.handlers.len() + usize::from(!s.orelse.is_empty()),
            Stmt::Assert(_) => 1,
            Stmt::Match(s) => {
                let wildcard = s.cases.iter().any(|c| matches!(&c.pattern, Pattern::MatchAs(p) if p.pattern.is_none()));
                s.cases.len().saturating_sub(usize::from(wildcard))
            }
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

/// A function's complexity: 1 + the decision points of its body (nested definitions apart).
fn function(f: &StmtFunctionDef) -> usize {
    1 + Block::of(&f.body).decisions
}

/// A class's complexity as radon adds it up: 1 + its body's decision points + each method's complexity.
fn class(c: &StmtClassDef) -> usize {
    let body = Block::of(&c.body);
    1 + body.decisions + body.functions.iter().map(|m| function(m)).sum::<usize>()
}

/// The cyclomatic complexity of a Python module, or the parser's message if it does not parse.
///
/// # Errors
/// The code has a syntax error.
pub fn cyclomatic(code: &str) -> Result<usize, String> {
    let parsed = ruff_python_parser::parse_module(code).map_err(|e| e.error.to_string())?;
    let module = Block::of(&parsed.syntax().body);
    let functions: usize = module.functions.iter().map(|f| function(f) - 1).sum();
    let classes: usize = module.classes.iter().map(|c| class(c) - 1).sum();
    Ok(1 + module.decisions + functions + classes)
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
