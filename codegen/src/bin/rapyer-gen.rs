//! `rapyer-gen`: the command-line front end of rapyer-codegen.
//!
//! ```text
//! rapyer-gen SCHEMA_DIR -o OUT_DIR            generate (only changed files are written)
//! rapyer-gen SCHEMA_DIR -o OUT_DIR --check    exit 1 and print a diff when OUT_DIR is stale
//! rapyer-gen check SCHEMA_DIR                 validate only
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rapyer-gen",
    version,
    about = "Generate typed Redis repositories from YAML schemas"
)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Directory of *.yaml / *.yml schema files.
    #[arg(required = true)]
    schema_dir: Option<PathBuf>,
    /// Output directory (its root module is OUT_DIR/mod.rs).
    #[arg(short = 'o', long = "out", required = true)]
    out_dir: Option<PathBuf>,
    /// Compare instead of writing: exit 1 and print a diff when OUT_DIR is not up to date.
    #[arg(long)]
    check: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a schema directory without generating anything.
    Check {
        /// Directory of schema files.
        schema_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match (cli.command, cli.schema_dir, cli.out_dir) {
        (Some(Command::Check { schema_dir }), _, _) => check(&schema_dir),
        (None, Some(schema_dir), Some(out_dir)) if cli.check => check_output(&schema_dir, &out_dir),
        (None, Some(schema_dir), Some(out_dir)) => generate(&schema_dir, &out_dir),
        _ => unreachable!("clap requires SCHEMA_DIR and -o without a subcommand"),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn check(schema_dir: &std::path::Path) -> Result<ExitCode, rapyer_codegen::Error> {
    let (schema, _) =
        rapyer_codegen::check::check_dir(schema_dir).map_err(rapyer_codegen::Error::from)?;
    println!(
        "{}: schema version {} is valid ({} models, {} structs, {} enums)",
        schema_dir.display(),
        schema.version,
        schema.models.len(),
        schema.structs.len(),
        schema.enums.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn check_output(
    schema_dir: &std::path::Path,
    out_dir: &std::path::Path,
) -> Result<ExitCode, rapyer_codegen::Error> {
    let changes = rapyer_codegen::check_output(schema_dir, out_dir)?;
    if changes.is_clean() {
        println!("{} is up to date", out_dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", changes.diff);
    eprintln!(
        "{} is stale: {} file(s) differ, {} stale file(s); run `rapyer-gen {} -o {}`",
        out_dir.display(),
        changes.written.len(),
        changes.removed.len(),
        schema_dir.display(),
        out_dir.display()
    );
    Ok(ExitCode::FAILURE)
}

fn generate(
    schema_dir: &std::path::Path,
    out_dir: &std::path::Path,
) -> Result<ExitCode, rapyer_codegen::Error> {
    let changes = rapyer_codegen::generate_to(schema_dir, out_dir)?;
    println!(
        "{}: {} written, {} removed, {} unchanged",
        out_dir.display(),
        changes.written.len(),
        changes.removed.len(),
        changes.unchanged.len()
    );
    Ok(ExitCode::SUCCESS)
}
