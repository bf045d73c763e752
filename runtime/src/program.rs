//! Programs of the build other than the backend (pg_dump, pg_restore): WASI
//! commands run to completion in this process, with arguments, standard
//! streams that the caller feeds and drains, and client connections opened
//! through a [`ClientConnector`] instead of sockets.
//!
//! The guest sees no host files: its filesystem is one in memory, holding
//! only an empty file where its executable would be (PostgreSQL's programs
//! look themselves up from argv\[0\], and complain when they are not
//! found).
//! The program runs on a thread of its own while the calling thread moves
//! the caller's input to its stdin, or its stdout to the caller's output,
//! so neither needs to be `Send`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use virtual_fs::FileSystem;
use wasmer::{FunctionEnv, Instance, Store};
use wasmer_wasix::{WasiEnvBuilder, WasiError, WasiFunctionEnv};

use crate::artifacts::{Artifacts, PG_DUMP_MODULE};
use crate::client_io::{define_client_imports, ClientConnector, ClientIo};
use crate::instance::{outside_coop_budget, tokio_runtime};
use crate::stdio::{Capture, ChannelInput, ChannelOutput};
use crate::{engine, Error, Result};

/// Chunks in flight between the caller and a program's stdin or stdout.
const CHANNEL_CHUNKS: usize = 16;

/// A program of the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// pg_dump: writes a database's dump to stdout.
    PgDump,
    /// pg_restore: reads a custom-format archive from stdin.
    PgRestore,
}

impl Program {
    /// The program's name: its argv\[0\], which picks the program in the
    /// module that holds both.
    pub fn name(self) -> &'static str {
        match self {
            Program::PgDump => "pg_dump",
            Program::PgRestore => "pg_restore",
        }
    }
}

/// Where a program's stdin comes from and its stdout goes.
pub enum ProgramIo<'a> {
    /// Reads the program's stdin from here; its stdout is discarded.
    Input(&'a mut dyn Read),
    /// Writes the program's stdout here; its stdin is empty.
    Output(&'a mut dyn Write),
}

/// Runs `program` with arguments `args` (without argv\[0\]) to its end.
/// Returns its stderr (warnings) when it exits with 0; any other exit is an
/// [`Error::ProgramFailed`] carrying what it wrote to stderr. An error of
/// the caller's reader or writer is returned as [`Error::Io`].
pub fn run_program(
    artifacts: &Artifacts,
    program: Program,
    args: &[String],
    io: ProgramIo<'_>,
    connector: Box<dyn ClientConnector>,
) -> Result<String> {
    let files = artifacts.program_files(PG_DUMP_MODULE)?;
    let (input, output, pump) = match io {
        ProgramIo::Input(reader) => {
            let (sender, receiver) = mpsc::sync_channel(CHANNEL_CHUNKS);
            (
                ChannelInput::new(Some(receiver)),
                ChannelOutput::new(None),
                Pump::Input(reader, sender),
            )
        }
        ProgramIo::Output(writer) => {
            let (sender, receiver) = mpsc::sync_channel(CHANNEL_CHUNKS);
            (
                ChannelInput::new(None),
                ChannelOutput::new(Some(sender)),
                Pump::Output(writer, receiver),
            )
        }
    };
    let stderr = Capture::default();
    let guest_stderr = stderr.clone();
    let name = program.name();
    let args = args.to_vec();
    let (exit, pumped) = std::thread::scope(|scope| {
        let guest = std::thread::Builder::new()
            .name(format!("pglite-{name}"))
            .spawn_scoped(scope, move || {
                let module = engine::module_of(&files)?;
                run(&module, name, &args, input, output, guest_stderr, connector)
            })
            .map_err(|e| Error::io("starting a thread for", name, e))?;
        // The guest ends its stdin or stdout when it exits: the pump then
        // sees the other end gone and returns.
        let pumped = pump.run();
        let exit = guest
            .join()
            .unwrap_or_else(|_| Err(Error::Module(format!("{name} panicked"))));
        Ok::<_, Error>((exit, pumped))
    })?;
    let code = exit?;
    pumped.map_err(|e| Error::io("moving data of", name, e))?;
    let stderr = stderr.text();
    if code != 0 {
        return Err(Error::ProgramFailed {
            program: name,
            code,
            stderr,
        });
    }
    Ok(stderr)
}

/// What the calling thread does while the program runs.
enum Pump<'a> {
    Input(&'a mut dyn Read, mpsc::SyncSender<Vec<u8>>),
    Output(&'a mut dyn Write, mpsc::Receiver<Vec<u8>>),
}

impl Pump<'_> {
    fn run(self) -> std::io::Result<()> {
        match self {
            Pump::Input(reader, sender) => {
                let mut buf = vec![0; 64 * 1024];
                loop {
                    let count = match reader.read(&mut buf) {
                        Ok(0) => return Ok(()),
                        Ok(count) => count,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    if sender.send(buf[..count].to_vec()).is_err() {
                        // The program stopped reading (it exited).
                        return Ok(());
                    }
                }
            }
            Pump::Output(writer, receiver) => {
                for chunk in receiver {
                    writer.write_all(&chunk)?;
                }
                writer.flush()
            }
        }
    }
}

/// Instantiates `module` and runs its `_start`: the exit code.
fn run(
    module: &wasmer::Module,
    name: &str,
    args: &[String],
    stdin: ChannelInput,
    stdout: ChannelOutput,
    stderr: Capture,
    connector: Box<dyn ClientConnector>,
) -> Result<i32> {
    let _entered = tokio_runtime()?.enter();
    let module_error = |e: &dyn std::fmt::Display| Error::Module(format!("{name}: {e}"));
    // Whatever happens below, the caller's pump must see the streams end.
    let _close = CloseOnDrop(stdin.clone(), stdout.clone());
    let executable = format!("/pglite/bin/{name}");
    let mut store = Store::new(engine::engine().clone());
    let mut builder = WasiEnvBuilder::new(&executable)
        .args(args)
        .stdin(Box::new(stdin))
        .stdout(Box::new(stdout))
        .stderr(Box::new(stderr.clone()))
        .engine(engine::engine().clone())
        .fs(guest_fs(&executable).map_err(|e| module_error(&e))?);
    builder.add_preopen_dir("/").map_err(|e| module_error(&e))?;
    let env = builder.build().map_err(|e| module_error(&e))?;
    let mut wasi = WasiFunctionEnv::new(&mut store, env);
    let mut imports = wasi
        .import_object(&mut store, module)
        .map_err(|e| module_error(&e))?;
    let client = FunctionEnv::new(&mut store, ClientIo::new(connector));
    define_client_imports(&mut store, &client, &mut imports);
    let instance = Instance::new(&mut store, module, &imports).map_err(|e| module_error(&e))?;
    wasi.initialize(&mut store, instance.clone())
        .map_err(|e| module_error(&e))?;
    let memory = instance
        .exports
        .get_memory("memory")
        .map_err(|e| module_error(&e))?
        .clone();
    client.as_mut(&mut store).memory = Some(memory);
    let start = instance
        .exports
        .get_function("_start")
        .map_err(|e| module_error(&e))?
        .clone();
    let outcome = outside_coop_budget(|| start.call(&mut store, &[]));
    outside_coop_budget(|| wasi.on_exit(&mut store, None));
    let trap = match outcome {
        Ok(_) => return Ok(0),
        Err(err) => match err.downcast::<WasiError>() {
            Ok(WasiError::Exit(code)) => return Ok(code.raw()),
            Ok(other) => other.to_string(),
            Err(trap) => trap.to_string(),
        },
    };
    Err(Error::Crashed {
        trap: format!("{name}: {trap}"),
        stderr: stderr.text(),
    })
}

/// A filesystem in memory with an empty file at `executable`.
fn guest_fs(executable: &str) -> virtual_fs::Result<Arc<dyn FileSystem + Send + Sync>> {
    let fs = virtual_fs::mem_fs::FileSystem::default();
    let path = Path::new(executable);
    let mut dir = PathBuf::from("/");
    for part in path.parent().into_iter().flat_map(Path::components).skip(1) {
        dir.push(part);
        fs.create_dir(&dir)?;
    }
    fs.new_open_options().create(true).write(true).open(path)?;
    Ok(Arc::new(fs))
}

/// Closes a program's stdin and stdout when dropped.
struct CloseOnDrop(ChannelInput, ChannelOutput);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
        self.1.close();
    }
}
