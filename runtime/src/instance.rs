//! One WASI instance of the backend module: the guest's view of the host
//! (the filesystem of [`crate::fs`], arguments, standard streams) and the
//! `pglite` imports.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use wasmer::{Function, FunctionEnv, Instance, Memory, Store};
use wasmer_wasix::{WasiEnvBuilder, WasiError, WasiFunctionEnv};

use crate::artifacts::Artifacts;
use crate::fs::{wrap_file_imports, DataLayers, Durability, FsContext, GuestFs, GuestFsEnv};
use crate::host_io::{define_imports, HostIo};
use crate::stdio::Capture;
use crate::{dylink, engine, roots, Error, Result};

pub(crate) use crate::fs::{GUEST_DATA, GUEST_EXECUTABLE};

/// The tokio runtime every call into a guest enters: wasmer-wasix runs its
/// clocks (a guest's sleep or poll timeout) on tokio. One worker thread
/// drives the timers while a guest waits; it is shared by every instance in
/// the process and never dropped, so a session may also end inside an async
/// context.
pub(crate) fn tokio_runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("pglite-io")
                .enable_all()
                .build()
        })
        .as_ref()
        .map_err(|e| {
            Error::io(
                "starting",
                "the I/O runtime",
                std::io::Error::new(e.kind(), e.to_string()),
            )
        })
}

/// A running instance and what the host keeps of it.
pub(crate) struct BackendInstance {
    pub store: Store,
    pub instance: Instance,
    pub wasi: WasiFunctionEnv,
    pub io: FunctionEnv<HostIo>,
    /// The filesystem's state: sync counts.
    pub fs: Arc<FsContext>,
    pub stderr: Capture,
    pub stdout: Capture,
    /// The backend's linear memory.
    pub memory: Memory,
}

/// How a call into the guest ended.
pub(crate) enum CallOutcome {
    Returned,
    Exited(i32),
}

impl BackendInstance {
    /// Instantiates the backend for `data_dir` with PostgreSQL arguments
    /// `args` (without argv[0]) and `stdin`.
    pub fn new(
        artifacts: &Artifacts,
        data_dir: &Path,
        durability: Durability,
        args: &[String],
        stdin: Vec<u8>,
    ) -> Result<Self> {
        Self::build(artifacts, data_dir, durability, args, stdin, false)
    }

    /// [`Self::new`] with a clock and an entropy source that give the same
    /// answers on every run (see [`crate::reproducible`]).
    pub fn new_reproducible(
        artifacts: &Artifacts,
        data_dir: &Path,
        durability: Durability,
        args: &[String],
        stdin: Vec<u8>,
    ) -> Result<Self> {
        Self::build(artifacts, data_dir, durability, args, stdin, true)
    }

    fn build(
        artifacts: &Artifacts,
        data_dir: &Path,
        durability: Durability,
        args: &[String],
        stdin: Vec<u8>,
        reproducible: bool,
    ) -> Result<Self> {
        let _entered = tokio_runtime()?.enter();
        let module = engine::module(artifacts)?;
        let data = DataLayers {
            dir: data_dir.to_path_buf(),
            lower: roots::lower_layer(data_dir)?,
        };
        let guest_fs = GuestFs::new(artifacts, &data, durability)?;
        let stdout = Capture::default();
        let stderr = Capture::default();
        let mut builder = WasiEnvBuilder::new(GUEST_EXECUTABLE)
            .args(args)
            .env("PGDATA", GUEST_DATA)
            .stdin(Box::new(virtual_fs::StaticFile::new(stdin)))
            .stdout(Box::new(stdout.clone()))
            .stderr(Box::new(stderr.clone()))
            .engine(engine::engine().clone())
            .fs(guest_fs.root.clone());
        builder
            .add_preopen_dir("/")
            .map_err(|e| Error::Module(e.to_string()))?;
        let mut store = Store::new(engine::engine().clone());
        let env = builder.build().map_err(|e| Error::Module(e.to_string()))?;
        let mut wasi = WasiFunctionEnv::new(&mut store, env);
        let mut imports = wasi
            .import_object(&mut store, &module)
            .map_err(|e| Error::Module(e.to_string()))?;
        let io = FunctionEnv::new(&mut store, HostIo::default());
        define_imports(&mut store, &io, &mut imports);
        let linker = FunctionEnv::new(&mut store, dylink::Linker::new(guest_fs.lib_tree()));
        dylink::define_imports(&mut store, &linker, &mut imports);
        let files: Option<FunctionEnv<GuestFsEnv>> = if guest_fs.wraps_imports() {
            Some(wrap_file_imports(&mut store, &guest_fs, &mut imports)?)
        } else {
            None
        };
        let reproducible =
            reproducible.then(|| crate::reproducible::define(&mut store, &mut imports));
        let instance = Instance::new(&mut store, &module, &imports)
            .map_err(|e| Error::Module(e.to_string()))?;
        wasi.initialize(&mut store, instance.clone())
            .map_err(|e| Error::Module(e.to_string()))?;
        let memory = instance
            .exports
            .get_memory("memory")
            .map_err(|e| Error::Module(e.to_string()))?
            .clone();
        if let Some(files) = &files {
            files.as_mut(&mut store).memory = Some(memory.clone());
        }
        if let Some(env) = &reproducible {
            env.as_mut(&mut store).memory = Some(memory.clone());
        }
        io.as_mut(&mut store).memory = Some(memory.clone());
        dylink::attach(&mut store, &linker, &instance);
        let mut backend = Self {
            store,
            instance,
            wasi,
            io,
            fs: guest_fs.ctx.clone(),
            stderr,
            stdout,
            memory,
        };
        match backend.call("_initialize")? {
            CallOutcome::Returned => Ok(backend),
            CallOutcome::Exited(code) => Err(Error::Exited {
                code,
                stderr: backend.stderr.text(),
            }),
        }
    }

    /// Calls an exported function that takes and returns nothing (the
    /// `pgl_*` entry points return an int that carries no information).
    pub fn call(&mut self, name: &str) -> Result<CallOutcome> {
        let function = self.export(name)?;
        self.call_function(&function)
    }

    /// An exported function, looked up once by callers that call it often.
    pub fn export(&self, name: &str) -> Result<Function> {
        self.instance
            .exports
            .get_function(name)
            .cloned()
            .map_err(|e| Error::Module(e.to_string()))
    }

    /// Calls `function` (an export of this instance, see [`Self::export`]).
    pub fn call_function(&mut self, function: &Function) -> Result<CallOutcome> {
        let _entered = tokio_runtime()?.enter();
        let store = &mut self.store;
        let err = match outside_coop_budget(|| function.call(store, &[])) {
            Ok(_) => return Ok(CallOutcome::Returned),
            Err(err) => err,
        };
        let trap = match err.downcast::<WasiError>() {
            Ok(WasiError::Exit(code)) => return Ok(CallOutcome::Exited(code.raw())),
            Ok(other) => other.to_string(),
            Err(trap) => trap.to_string(),
        };
        Err(Error::Crashed {
            trap,
            stderr: self.stderr.text(),
        })
    }

    /// Releases the WASI environment's resources (open files).
    pub fn close(mut self) {
        // The runtime exists: this instance was made inside it.
        let _entered = tokio_runtime().ok().map(|runtime| runtime.enter());
        let (wasi, store) = (&mut self.wasi, &mut self.store);
        outside_coop_budget(|| wasi.on_exit(store, None));
    }
}

/// Runs `call` exempt from tokio's cooperative scheduling budget. A call
/// into the backend may come from inside an async task (whose budget is
/// per thread); the backend's I/O then waits on tokio futures in a loop of
/// its own that never yields to that task's scheduler, so an exhausted
/// budget would make every wait pending forever.
pub(crate) fn outside_coop_budget<R>(call: impl FnOnce() -> R) -> R {
    let mut call = Some(call);
    let once = std::future::poll_fn(move |_| Poll::Ready(call.take().map(|call| call())));
    let mut task = std::pin::pin!(tokio::task::unconstrained(once));
    match task
        .as_mut()
        .poll(&mut Context::from_waker(std::task::Waker::noop()))
    {
        Poll::Ready(Some(result)) => result,
        // poll_fn is ready on its first poll, and polled only once.
        _ => unreachable!("a ready future was pending"),
    }
}
