//! `rapyer-gen`: the command-line front end of rapyer-codegen. It holds the dependencies only a
//! command line needs (clap, and tokio with the runtime for the commands that talk to Redis), so
//! a `build.rs` that depends on `rapyer-codegen` compiles none of them.
//!
//! ```text
//! rapyer-gen SCHEMA_DIR -o OUT_DIR            generate (only changed files are written)
//! rapyer-gen SCHEMA_DIR -o OUT_DIR --check    exit 1 and print a diff when OUT_DIR is stale
//! rapyer-gen check SCHEMA_DIR                 validate only
//! rapyer-gen reindex SCHEMA_DIR --url URL     rebuild the indexes of stored data
//!                    (or --cluster URL[,URL...] on a Redis Cluster)
//! rapyer-gen migrate SCHEMA_DIR --from-url URL --to-cluster URL[,URL...]
//!                    copy stored data to another deployment or layout
//! rapyer-gen review OLD_DIR NEW_DIR           review a schema change (also: NEW_DIR --against REV)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use rapyer_codegen::review::render::Format;
use rapyer_codegen::review::{Choice, Mode, Severity};

/// A clap parser for one of the library's named choices: the names it lists in `--help` and the
/// parse are the library's own.
fn choice<T: Choice>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::NAMES)
        .try_map(|name| T::from_name(&name).ok_or_else(|| format!("unknown choice `{name}`")))
}

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
    /// Review a schema change: what changed, and whether stored data stays readable. Exit 0
    /// clean, 1 error, 2 incompatible changes.
    Review {
        /// OLD_DIR NEW_DIR, or NEW_DIR alone with --against.
        #[arg(required = true, num_args = 1..=2)]
        dirs: Vec<PathBuf>,
        /// Compare NEW_DIR with itself at this git revision (e.g. `main`).
        #[arg(long)]
        against: Option<String>,
        /// Compare NEW_DIR with every version kept in this directory (one subdirectory each).
        #[arg(long, conflicts_with = "against")]
        history: Option<PathBuf>,
        /// Which readers must keep working.
        #[arg(long, default_value = "full", value_parser = choice::<Mode>())]
        mode: Mode,
        /// Output format.
        #[arg(long, default_value = "text", value_parser = choice::<Format>())]
        format: Format,
        /// The least severe finding that fails the review.
        #[arg(long, default_value = "breaking", value_parser = choice::<Severity>())]
        fail_on: Severity,
    },
    /// Rebuild the indexes of the models of a schema from the instances stored in Redis (after
    /// adding an index, or to repair them). Safe while applications keep writing.
    Reindex {
        /// Directory of schema files.
        schema_dir: PathBuf,
        /// The Redis server, e.g. redis://127.0.0.1:6379/ or redis+unix:///path/to/socket.
        #[arg(long, required_unless_present = "cluster", conflicts_with = "cluster")]
        url: Option<String>,
        /// Some nodes of a Redis Cluster instead: redis://host:port URLs, comma-separated.
        #[arg(long, value_delimiter = ',')]
        cluster: Vec<String>,
        /// The key namespace the application uses, if any.
        #[arg(long)]
        namespace: Option<String>,
        /// Only these models (default: every model with an index).
        #[arg(long = "model")]
        models: Vec<String>,
    },
    /// Copy the instances of the models of a schema from one deployment or layout to another:
    /// a single server into a cluster, or to a new `buckets` or `slot_group` (with
    /// --from-schema). Instances the target has are left alone, so a stopped copy resumes by
    /// running it again.
    Migrate {
        /// Directory of schema files: the target's layout.
        schema_dir: PathBuf,
        /// The schema of the source's layout, when it differs (default: SCHEMA_DIR).
        #[arg(long)]
        from_schema: Option<PathBuf>,
        /// The source server.
        #[arg(
            long,
            required_unless_present = "from_cluster",
            conflicts_with = "from_cluster"
        )]
        from_url: Option<String>,
        /// The source cluster: some of its nodes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        from_cluster: Vec<String>,
        /// The target server.
        #[arg(
            long,
            required_unless_present = "to_cluster",
            conflicts_with = "to_cluster"
        )]
        to_url: Option<String>,
        /// The target cluster: some of its nodes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        to_cluster: Vec<String>,
        /// The key namespace the application uses, if any (on both sides).
        #[arg(long)]
        namespace: Option<String>,
        /// Only these models (default: every model).
        #[arg(long = "model")]
        models: Vec<String>,
        /// Instances read and written per step.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match (cli.command, cli.schema_dir, cli.out_dir) {
        (Some(Command::Check { schema_dir }), _, _) => check(&schema_dir),
        (
            Some(Command::Review {
                dirs,
                against,
                history: Some(history),
                mode,
                format,
                fail_on,
            }),
            _,
            _,
        ) if against.is_none() => return review_history(&dirs, &history, mode, format, fail_on),
        (
            Some(Command::Review {
                dirs,
                against,
                mode,
                format,
                fail_on,
                ..
            }),
            _,
            _,
        ) => return review(&dirs, against.as_deref(), mode, format, fail_on),
        (
            Some(Command::Reindex {
                schema_dir,
                url,
                cluster,
                namespace,
                models,
            }),
            _,
            _,
        ) => return reindex(&schema_dir, url, &cluster, namespace, &models),
        (
            Some(Command::Migrate {
                schema_dir,
                from_schema,
                from_url,
                from_cluster,
                to_url,
                to_cluster,
                namespace,
                models,
                batch,
            }),
            _,
            _,
        ) => {
            let ends = Ends {
                from_url,
                from_cluster,
                to_url,
                to_cluster,
                namespace,
            };
            return migrate(&schema_dir, from_schema.as_deref(), ends, &models, batch);
        }
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

/// A checked schema, or the report of its errors.
fn load_schema(dir: &std::path::Path) -> Result<rapyer_codegen::ir::Schema, ExitCode> {
    rapyer_codegen::check::check_dir(dir)
        .map(|(schema, _)| schema)
        .map_err(|e| {
            eprintln!("{}", rapyer_codegen::Error::from(e));
            ExitCode::FAILURE
        })
}

/// Runs `work` on a current-thread tokio runtime.
fn block_on(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Connects to one server (`url`) or to a cluster (`cluster` seeds).
async fn connect(
    url: &Option<String>,
    cluster: &[String],
    namespace: &Option<String>,
) -> Result<rapyer::Client, ExitCode> {
    let (mut builder, target) = match url {
        Some(url) => (rapyer::Client::builder(url), url.clone()),
        None => (
            rapyer::Client::cluster_builder(cluster),
            format!("the cluster at {}", cluster.join(",")),
        ),
    };
    if let Some(ns) = namespace {
        builder = builder.namespace(ns.clone());
    }
    builder.connect().await.map_err(|e| {
        eprintln!("error: cannot connect to {target}: {e}");
        ExitCode::FAILURE
    })
}

/// The models named in `only` (every model when empty), refusing a name the schema lacks.
fn chosen<'s>(
    schema: &'s rapyer_codegen::ir::Schema,
    only: &[String],
) -> Result<Vec<&'s rapyer_codegen::ir::Model>, ExitCode> {
    if let Some(unknown) = only
        .iter()
        .find(|name| !schema.models.iter().any(|m| &m.name == *name))
    {
        eprintln!("error: the schema has no model `{unknown}`");
        return Err(ExitCode::FAILURE);
    }
    Ok(schema
        .models
        .iter()
        .filter(|m| only.is_empty() || only.contains(&m.name))
        .collect())
}

/// Reindexes the chosen models (every model with an index by default); exit 1 on any error or
/// unique conflict.
fn reindex(
    schema_dir: &std::path::Path,
    url: Option<String>,
    cluster: &[String],
    namespace: Option<String>,
    only: &[String],
) -> ExitCode {
    let schema = match load_schema(schema_dir) {
        Ok(schema) => schema,
        Err(code) => return code,
    };
    let models = match chosen(&schema, only) {
        Ok(models) => models,
        Err(code) => return code,
    };
    block_on(async {
        let client = match connect(&url, cluster, &namespace).await {
            Ok(client) => client,
            Err(code) => return code,
        };
        let mut code = ExitCode::SUCCESS;
        for model in models {
            let meta = rapyer_codegen::runtime_meta::model_meta(&schema, model);
            if only.is_empty() && meta.indexes.is_empty() {
                continue;
            }
            match rapyer::__private::reindex(&client, &meta).await {
                Ok(report) => {
                    println!(
                        "{}: {} instances, {} index entries written, {} stale entries removed",
                        model.name, report.instances, report.written, report.removed
                    );
                    for c in &report.conflicts {
                        code = ExitCode::FAILURE;
                        eprintln!(
                            "conflict: {}.{} = {:?} is held by `{}` and also by `{}`",
                            model.name, c.field, c.value, c.holder, c.other
                        );
                    }
                }
                Err(e) => {
                    eprintln!("error: reindexing {}: {e}", model.name);
                    code = ExitCode::FAILURE;
                }
            }
        }
        code
    })
}

/// Where a copy reads and writes.
struct Ends {
    from_url: Option<String>,
    from_cluster: Vec<String>,
    to_url: Option<String>,
    to_cluster: Vec<String>,
    namespace: Option<String>,
}

/// Copies the chosen models (every model by default) from one deployment or layout to another;
/// exit 1 on any error or unique conflict.
fn migrate(
    schema_dir: &std::path::Path,
    from_schema: Option<&std::path::Path>,
    ends: Ends,
    only: &[String],
    batch: usize,
) -> ExitCode {
    let schema = match load_schema(schema_dir) {
        Ok(schema) => schema,
        Err(code) => return code,
    };
    let source_schema = match from_schema.map(load_schema).transpose() {
        Ok(source) => source,
        Err(code) => return code,
    };
    let source_schema = source_schema.as_ref().unwrap_or(&schema);
    let models = match chosen(&schema, only) {
        Ok(models) => models,
        Err(code) => return code,
    };
    block_on(async {
        let from = match connect(&ends.from_url, &ends.from_cluster, &ends.namespace).await {
            Ok(client) => client,
            Err(code) => return code,
        };
        let to = match connect(&ends.to_url, &ends.to_cluster, &ends.namespace).await {
            Ok(client) => client,
            Err(code) => return code,
        };
        let mut code = ExitCode::SUCCESS;
        for model in models {
            let Some(source) = source_schema.models.iter().find(|m| m.name == model.name) else {
                eprintln!("error: the source schema has no model `{}`", model.name);
                code = ExitCode::FAILURE;
                continue;
            };
            let from_meta = rapyer_codegen::runtime_meta::model_meta(source_schema, source);
            let to_meta = rapyer_codegen::runtime_meta::model_meta(&schema, model);
            match rapyer::__private::copy(&from, &from_meta, &to, &to_meta, batch).await {
                Ok(report) => {
                    println!(
                        "{}: {} instances, {} copied, {} already there, {} vanished",
                        model.name,
                        report.instances,
                        report.copied,
                        report.already_there,
                        report.vanished
                    );
                    for (pk, field, value, holder) in &report.conflicts {
                        code = ExitCode::FAILURE;
                        eprintln!(
                            "conflict: {} `{pk}` not copied: {field} = {value:?} is held by `{holder}`",
                            model.name
                        );
                    }
                }
                Err(e) => {
                    eprintln!("error: copying {}: {e}", model.name);
                    code = ExitCode::FAILURE;
                }
            }
        }
        code
    })
}

fn review(
    dirs: &[PathBuf],
    against: Option<&str>,
    mode: Mode,
    format: Format,
    fail_on: Severity,
) -> ExitCode {
    use rapyer_codegen::review::{self, source};
    let sides = match (dirs, against) {
        ([old, new], None) => source::from_dir(old).and_then(|o| Ok((o, source::from_dir(new)?))),
        ([new], Some(rev)) => {
            source::from_git(new, rev).and_then(|o| Ok((o, source::from_dir(new)?)))
        }
        ([_, _], Some(_)) => {
            eprintln!("error: give OLD_DIR NEW_DIR, or NEW_DIR --against REV, not both");
            return ExitCode::FAILURE;
        }
        _ => {
            eprintln!("error: give OLD_DIR NEW_DIR, or NEW_DIR --against REV");
            return ExitCode::FAILURE;
        }
    };
    let (old, new) = match sides {
        Ok(sides) => sides,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let report = review::review(&old, &new, mode);
    print!("{}", review::render::render(&report, format));
    ExitCode::from(report.exit_code(fail_on))
}

fn review_history(
    dirs: &[PathBuf],
    history: &std::path::Path,
    mode: Mode,
    format: Format,
    fail_on: Severity,
) -> ExitCode {
    use rapyer_codegen::review::{self, source};
    let [new] = dirs else {
        eprintln!("error: with --history, give NEW_DIR only");
        return ExitCode::FAILURE;
    };
    let loaded = source::history(history).and_then(|h| Ok((h, source::from_dir(new)?)));
    let (versions, new) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if versions.is_empty() {
        eprintln!("error: {} holds no version directory", history.display());
        return ExitCode::FAILURE;
    }
    let reports: Vec<(String, review::Report)> = versions
        .iter()
        .map(|(name, old)| (name.clone(), review::review(old, &new, mode)))
        .collect();
    print!("{}", review::render::render_many(&reports, format));
    let code = reports
        .iter()
        .map(|(_, r)| r.exit_code(fail_on))
        .max_by_key(|c| match c {
            1 => 3, // an error outranks breaking changes
            other => *other,
        })
        .unwrap_or(0);
    ExitCode::from(code)
}
