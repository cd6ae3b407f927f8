//! The run directory: created fresh, replaced with `--force`, or resumed, when its
//! `recipe.resolved.toml` is the recipe being run.

use std::path::PathBuf;

use super::RunOptions;
use crate::error::{Result, TrainError};
use crate::recipe::Recipe;

/// Opens the run directory of `recipe` for a fresh run or a resume, writing `recipe.resolved.toml` for a
/// fresh one.
///
/// # Errors
/// A resume with another recipe, an existing run without `--force`, or an I/O failure.
pub(super) fn open(recipe: &Recipe, opts: &RunOptions) -> Result<PathBuf> {
    let dir = recipe.out.clone();
    let recipe_path = dir.join("recipe.resolved.toml");
    if opts.resume {
        let saved = std::fs::read_to_string(&recipe_path).map_err(|e| TrainError::io(&recipe_path, e))?;
        let saved =
            Recipe::parse(&saved, &[]).map_err(|problem| TrainError::Recipe { path: recipe_path.clone(), problem })?;
        if saved != *recipe {
            return Err(TrainError::Run {
                path: dir,
                problem: "was trained with another recipe (see its recipe.resolved.toml); resume with the same recipe"
                    .into(),
            });
        }
    } else if dir.exists() && std::fs::read_dir(&dir).map_err(|e| TrainError::io(&dir, e))?.next().is_some() {
        if !opts.overwrite {
            return Err(TrainError::Run {
                path: dir,
                problem: "already holds a run; pass --resume to continue it or --force to start over".into(),
            });
        }
        std::fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    if !opts.resume {
        std::fs::write(&recipe_path, recipe.to_toml()).map_err(|e| TrainError::io(&recipe_path, e))?;
    }
    Ok(dir)
}
