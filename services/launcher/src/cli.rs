//! The `aerostic` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use aerostic_kit::config::{ConfigError, ServiceName, Source};
use aerostic_kit::crypto::KeyRing;
use aerostic_kit::telemetry::{LogFormat, init_logging};
use clap::{Parser, Subcommand};

use crate::dev::{DevOptions, banner, prepare_dev};
use crate::platform::{Platform, migrate};
use crate::process::{gateway_process, service_process, termination};

#[derive(Parser)]
#[command(
    name = "aerostic",
    version,
    about = "Multi-tenant WhatsApp Business platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum AdminAction {
    /// Creates a platform super admin (the API cannot).
    CreateSuperAdmin {
        /// Their email.
        #[arg(long)]
        email: String,
        /// The environment variable holding their password.
        #[arg(long, default_value = "AEROSTIC_ADMIN_PASSWORD")]
        password_env: String,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Walks the HMAC chain; exits non-zero naming the first broken link.
    Verify,
}

#[derive(Subcommand)]
enum DlqAction {
    /// Lists every workspace's dead letters, oldest first.
    List,
    /// Queues dead letters again at the price already held: the ids given,
    /// or every one (of one workspace with --tenant) with --all.
    Replay {
        /// Message ids.
        ids: Vec<String>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
        /// Only this workspace's (with --all).
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process on SQLite, an in-process broker and an in-memory cache.
    Dev {
        /// Where the SQLite file and generated secrets live.
        #[arg(long, default_value = ".aerostic", env = "AEROSTIC_DATA_DIR")]
        data_dir: PathBuf,
        /// The gateway's address.
        #[arg(long, default_value = "127.0.0.1:8080", env = "AEROSTIC_GATEWAY_ADDR")]
        gateway_addr: SocketAddr,
        /// First of five gRPC ports (0: any free ports).
        #[arg(long, default_value_t = 50051)]
        grpc_base_port: u16,
        /// The Meta sandbox's address.
        #[arg(long, default_value = "127.0.0.1:8090", env = "AEROSTIC_SANDBOX_ADDR")]
        sandbox_addr: SocketAddr,
    },
    /// The Meta sandbox alone (a WhatsApp Cloud API simulator).
    Sandbox {
        /// Where it listens.
        #[arg(long, default_value = "127.0.0.1:8090", env = "AEROSTIC_SANDBOX_ADDR")]
        addr: SocketAddr,
        /// The control API's bearer token.
        #[arg(long, env = "AEROSTIC_SANDBOX_CONTROL_TOKEN")]
        control_token: String,
        /// Seed for reproducible ids.
        #[arg(long, default_value_t = 1, env = "AEROSTIC_SANDBOX_SEED")]
        seed: u64,
        /// Seconds a template review takes.
        #[arg(long, default_value_t = 5.0, env = "AEROSTIC_SANDBOX_REVIEW_SECS")]
        review_secs: f64,
        /// Wait after a failed webhook delivery, doubling each time (seconds).
        #[arg(long, default_value_t = 1.0, env = "AEROSTIC_SANDBOX_RETRY_BASE_SECS")]
        retry_base_secs: f64,
        /// Give up on a webhook after this long (seconds; Meta: 7 days).
        #[arg(
            long,
            default_value_t = 604_800.0,
            env = "AEROSTIC_SANDBOX_RETRY_HORIZON_SECS"
        )]
        retry_horizon_secs: f64,
    },
    /// The public REST gateway.
    Gateway,
    /// The tenancy service.
    Tenancy,
    /// The dispatcher service.
    Dispatcher,
    /// The automation service.
    Automation,
    /// The billing service.
    Billing,
    /// The anomaly service.
    Anomaly,
    /// Applies pending database migrations (AEROSTIC_DATABASE_URL).
    Migrate,
    /// Moves a queue's dead letters back into it (AEROSTIC_BROKER_URL, AEROSTIC_NAMESPACE).
    Replay {
        /// The queue, e.g. `tenancy.audit`.
        queue: String,
    },
    /// Operator actions on the platform's database.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Messages whose every attempt failed (AEROSTIC_DATABASE_URL).
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Prints a fresh encryption key and JWT secret for the configuration.
    Keygen {
        /// Id of the new key.
        #[arg(long, default_value = "k1")]
        key_id: String,
    },
}

/// Entry point of the `aerostic` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<ConfigError>() {
            Some(config) => fail(&config.to_string()),
            None => fail(&format!("{e:#}")),
        },
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("aerostic: {message}");
    ExitCode::from(2)
}

fn log_format(src: &Source) -> LogFormat {
    match src.optional("AEROSTIC_LOG_FORMAT").as_deref() {
        Some("pretty") => LogFormat::Pretty,
        _ => LogFormat::Json,
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let src = Source::load()?;
    let service = |name| async move { service_process(name, &Source::load()?).await };
    match command {
        Command::Dev {
            data_dir,
            gateway_addr,
            grpc_base_port,
            sandbox_addr,
        } => {
            init_logging(
                if src.optional("AEROSTIC_LOG_FORMAT").as_deref() == Some("json") {
                    LogFormat::Json
                } else {
                    LogFormat::Pretty
                },
            );
            dev(DevOptions {
                data_dir,
                gateway_addr,
                grpc_base_port,
                sandbox_addr,
            })
            .await
        }
        other => {
            init_logging(log_format(&src));
            match other {
                Command::Gateway => gateway_process(&src).await,
                Command::Sandbox {
                    addr,
                    control_token,
                    seed,
                    review_secs,
                    retry_base_secs,
                    retry_horizon_secs,
                } => {
                    let secs = |what: &str, v: f64| {
                        anyhow::ensure!(
                            v.is_finite() && v >= 0.0,
                            "{what} must be a non-negative number of seconds"
                        );
                        Ok(std::time::Duration::from_secs_f64(v))
                    };
                    let policy = aerostic_sandbox::webhooks::RetryPolicy {
                        base: secs("--retry-base-secs", retry_base_secs)?,
                        horizon: secs("--retry-horizon-secs", retry_horizon_secs)?,
                    };
                    let review = secs("--review-secs", review_secs)?;
                    let seed = aerostic_sandbox::Seed {
                        seed,
                        ..Default::default()
                    };
                    let meta = aerostic_sandbox::Sandbox::new(seed, control_token)
                        .with_retry_policy(policy)
                        .with_review_delay(review);
                    let listener = tokio::net::TcpListener::bind(addr).await?;
                    tracing::info!(%addr, "Meta sandbox serving");
                    aerostic_sandbox::run(meta, listener, termination()).await?;
                    Ok(())
                }
                Command::Tenancy => service(ServiceName::Tenancy).await,
                Command::Dispatcher => service(ServiceName::Dispatcher).await,
                Command::Automation => service(ServiceName::Automation).await,
                Command::Billing => service(ServiceName::Billing).await,
                Command::Anomaly => service(ServiceName::Anomaly).await,
                Command::Migrate => {
                    let url =
                        src.required("AEROSTIC_DATABASE_URL", "a postgres:// or sqlite:// URL")?;
                    migrate(&url).await?;
                    println!("migrations applied");
                    // The broker's part: every queue, so events published
                    // before their consumer first starts are not dropped.
                    // With the services' own settings, so the declarations match.
                    if src.optional("AEROSTIC_BROKER_URL").is_some() {
                        let backends = aerostic_kit::config::Backends::from_source(&src)?;
                        let broker = aerostic_kit::broker::connect(
                            &backends.broker_url,
                            &backends.namespace,
                            backends.idle_queue_expiry,
                        )
                        .await?;
                        crate::platform::declare_queues(broker.as_ref()).await?;
                        println!("queues declared");
                    }
                    Ok(())
                }
                Command::Replay { queue } => {
                    let url = src.required("AEROSTIC_BROKER_URL", "the amqp:// URL of RabbitMQ")?;
                    let namespace = src
                        .optional("AEROSTIC_NAMESPACE")
                        .unwrap_or_else(|| "aerostic".into());
                    let broker = aerostic_kit::broker::connect(&url, &namespace, None).await?;
                    let moved = broker.replay_dead_letters(&queue).await?;
                    println!("replayed {moved} dead letters into {queue}");
                    Ok(())
                }
                Command::Admin {
                    action:
                        AdminAction::CreateSuperAdmin {
                            email,
                            password_env,
                        },
                } => crate::admin_cli::create_super_admin(&src, &email, &password_env).await,
                Command::Audit {
                    action: AuditAction::Verify,
                } => crate::admin_cli::verify_audit(&src).await,
                Command::Dlq {
                    action: DlqAction::List,
                } => crate::admin_cli::list_dead_letters(&src).await,
                Command::Dlq {
                    action: DlqAction::Replay { ids, all, tenant },
                } => crate::admin_cli::replay_dead_letters(&src, ids, all, tenant).await,
                Command::Keygen { key_id } => {
                    println!(
                        "AEROSTIC_ENCRYPTION_KEYS={}",
                        KeyRing::generate_spec(&key_id)
                    );
                    println!("AEROSTIC_JWT_SECRET={}", KeyRing::random_secret());
                    Ok(())
                }
                Command::Dev { .. } => unreachable!("handled above"),
            }
        }
    }
}

async fn dev(opts: DevOptions) -> anyhow::Result<()> {
    let spec = prepare_dev(&opts)?;
    let spec_control = spec.sandbox.as_ref().map(|(_, c)| c.clone());
    let mut platform = Platform::start(spec).await?;
    // One write, errors ignored: a closed stdout must not stop the platform.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let sandbox = platform.sandbox.zip(spec_control.as_deref());
        let text = banner(platform.gateway, &platform.grpc, sandbox, &opts.data_dir);
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    tokio::select! {
        _ = termination() => {
            tracing::info!("stopping");
            platform.stop().await;
            Ok(())
        }
        ended = platform.wait() => match ended {
            Some((part, Err(e))) => Err(e.context(format!("{part} stopped"))),
            Some((part, Ok(()))) => anyhow::bail!("{part} stopped unexpectedly"),
            None => Ok(()),
        },
    }
}
