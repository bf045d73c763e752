//! A clock and an entropy source for the guest that give the same answers
//! on every run, in place of WASI's `clock_time_get` and `random_get`.
//!
//! PostgreSQL stamps a new cluster with its clock (the system identifier,
//! checkpoint and transaction times) and with random bytes (the mock
//! authentication nonce). Everything else a backend computes is already a
//! function of its input inside the sandbox, so with these two replaced the
//! build-time template is the same, byte for byte, on every build.
//!
//! For building the template only: a data directory made this way shares
//! its system identifier and nonce with every other one made this way.

use wasmer::{Function, FunctionEnv, FunctionEnvMut, Imports, Memory, Store};

/// 2025-01-01T00:00:00Z in nanoseconds: the clock's start.
const EPOCH_NS: u64 = 1_735_689_600 * 1_000_000_000;
/// How far the clock moves on each reading: time passes, monotonically.
const TICK_NS: u64 = 1_000;
/// WASI errno values.
const SUCCESS: i32 = 0;
const FAULT: i32 = 21;
const INVAL: i32 = 28;

/// The state behind the two functions.
pub(crate) struct Reproducible {
    /// Set once the instance exists (imports are created before it).
    pub memory: Option<Memory>,
    readings: u64,
    /// splitmix64 state.
    random: u64,
}

/// Replaces the WASI clock and entropy imports in `imports`.
pub(crate) fn define(store: &mut Store, imports: &mut Imports) -> FunctionEnv<Reproducible> {
    let env = FunctionEnv::new(
        store,
        Reproducible {
            memory: None,
            readings: 0,
            random: 0x005e_ed0f_9e37_79b9,
        },
    );
    imports.define(
        "wasi_snapshot_preview1",
        "clock_time_get",
        Function::new_typed_with_env(store, &env, clock_time_get),
    );
    imports.define(
        "wasi_snapshot_preview1",
        "random_get",
        Function::new_typed_with_env(store, &env, random_get),
    );
    env
}

fn clock_time_get(
    mut env: FunctionEnvMut<Reproducible>,
    clock: i32,
    _precision: i64,
    out: i32,
) -> i32 {
    // realtime, monotonic, process and thread CPU time
    if !(0..=3).contains(&clock) {
        return INVAL;
    }
    let (state, store) = env.data_and_store_mut();
    state.readings += 1;
    let now = EPOCH_NS + state.readings * TICK_NS;
    let Some(memory) = state.memory.as_ref() else {
        return FAULT;
    };
    match memory
        .view(&store)
        .write(out as u32 as u64, &now.to_le_bytes())
    {
        Ok(()) => SUCCESS,
        Err(_) => FAULT,
    }
}

fn random_get(mut env: FunctionEnvMut<Reproducible>, buf: i32, len: i32) -> i32 {
    let (state, store) = env.data_and_store_mut();
    let mut bytes = vec![0u8; len as u32 as usize];
    for chunk in bytes.chunks_mut(8) {
        let word = splitmix64(&mut state.random).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    let Some(memory) = state.memory.as_ref() else {
        return FAULT;
    };
    match memory.view(&store).write(buf as u32 as u64, &bytes) {
        Ok(()) => SUCCESS,
        Err(_) => FAULT,
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_a_fixed_sequence() {
        let mut a = 1;
        let mut b = 1;
        let first: Vec<u64> = (0..4).map(|_| splitmix64(&mut a)).collect();
        let second: Vec<u64> = (0..4).map(|_| splitmix64(&mut b)).collect();
        assert_eq!(first, second);
        assert_ne!(first[0], first[1]);
    }
}
