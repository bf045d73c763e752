//! Load: ten clients of one server run mixed transactions at once (bank
//! transfers, transfers that must fail, savepoints, one-statement updates,
//! pipelined reads), and every invariant holds throughout and at the end:
//! money is neither made nor lost, each account's balance is what its
//! committed transfers say, and every transfer a client saw committed is
//! in the ledger, and no other.
//!
//! `PGLITE_LOAD_TRANSACTIONS` sets the transactions per client (default
//! 300; the full-size run is 10000).

use std::time::{Duration, Instant};

use pglite_oxide::Pglite;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

const CLIENTS: u64 = 10;
const DEFAULT_TRANSACTIONS: u64 = 300;
const ACCOUNTS: i32 = 20;
const OPENING_BALANCE: i64 = 1_000;
const TOTAL: i64 = ACCOUNTS as i64 * OPENING_BALANCE;

/// What one client did, as it saw it.
#[derive(Default, Debug)]
struct Tally {
    /// Transfers it saw commit, by id.
    committed: Vec<i64>,
    /// Transfers refused for lack of funds.
    refused: u64,
    /// Statement kinds run.
    kinds: [u64; 5],
}

/// A small deterministic generator per client.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn two_accounts(&mut self) -> (i32, i32) {
        let from = self.below(ACCOUNTS as u64) as i32 + 1;
        let to = (from + self.below(ACCOUNTS as u64 - 1) as i32) % ACCOUNTS + 1;
        (from, to)
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Moves `amount` in a transaction with its ledger row; `None` when the
/// source cannot pay (the CHECK refuses it and the transaction rolls back).
async fn transfer(
    client: &mut Client,
    from: i32,
    to: i32,
    amount: i64,
    via_savepoint: bool,
) -> Option<i64> {
    let mut tx = client.transaction().await.unwrap();
    if via_savepoint {
        // A failed statement inside a savepoint costs only the savepoint.
        let sp = tx.savepoint("bad").await.unwrap();
        let err = sp
            .execute("UPDATE accounts SET balance = balance / 0", &[])
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
        sp.rollback().await.unwrap();
    }
    let debit = tx
        .execute(
            "UPDATE accounts SET balance = balance - $2 WHERE id = $1",
            &[&from, &amount],
        )
        .await;
    match debit {
        Ok(1) => {}
        Err(err) if err.code() == Some(&SqlState::CHECK_VIOLATION) => {
            tx.rollback().await.unwrap();
            return None;
        }
        other => panic!("debit: {other:?}"),
    }
    tx.execute(
        "UPDATE accounts SET balance = balance + $2 WHERE id = $1",
        &[&to, &amount],
    )
    .await
    .unwrap();
    let id: i64 = tx
        .query_one(
            "INSERT INTO ledger (src, dst, amount) VALUES ($1, $2, $3) RETURNING id",
            &[&from, &to, &amount],
        )
        .await
        .unwrap()
        .get(0);
    tx.commit().await.unwrap();
    Some(id)
}

/// The sum of all balances, as one client sees it between transactions.
async fn total(client: &Client) -> i64 {
    client
        .query_one("SELECT sum(balance)::bigint FROM accounts", &[])
        .await
        .unwrap()
        .get(0)
}

async fn run_client(url: String, seed: u64, transactions: u64) -> Tally {
    let mut client = connect(&url).await;
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut tally = Tally::default();
    for _ in 0..transactions {
        let kind = rng.below(10) as usize;
        let (from, to) = rng.two_accounts();
        match kind {
            // Plain transfers, some too large to pay.
            0..=4 => {
                let amount = 1 + rng.below(300) as i64;
                match transfer(&mut client, from, to, amount, false).await {
                    Some(id) => tally.committed.push(id),
                    None => tally.refused += 1,
                }
                tally.kinds[0] += 1;
            }
            // With a failed savepoint inside.
            5 => {
                let amount = 1 + rng.below(50) as i64;
                match transfer(&mut client, from, to, amount, true).await {
                    Some(id) => tally.committed.push(id),
                    None => tally.refused += 1,
                }
                tally.kinds[1] += 1;
            }
            // A transfer in one statement, autocommitted: a CTE moves the
            // money and writes the ledger at once.
            6 => {
                let amount = 1 + rng.below(20) as i64;
                let row = client
                    .query_opt(
                        "WITH debit AS (
                           UPDATE accounts SET balance = balance - $3
                           WHERE id = $1 AND balance >= $3 RETURNING id),
                         credit AS (
                           UPDATE accounts SET balance = balance + $3
                           WHERE id = $2 AND EXISTS (SELECT 1 FROM debit) RETURNING id)
                         INSERT INTO ledger (src, dst, amount)
                         SELECT $1, $2, $3 FROM credit RETURNING id",
                        &[&from, &to, &amount],
                    )
                    .await
                    .unwrap();
                match row {
                    Some(row) => tally.committed.push(row.get(0)),
                    None => tally.refused += 1,
                }
                tally.kinds[2] += 1;
            }
            // Pipelined reads: the invariant as seen between transactions.
            7 | 8 => {
                let (a, b) = tokio::join!(total(&client), total(&client));
                assert_eq!((a, b), (TOTAL, TOTAL), "money made or lost");
                tally.kinds[3] += 1;
            }
            // A transaction rolled back on purpose.
            _ => {
                let tx = client.transaction().await.unwrap();
                tx.execute(
                    "UPDATE accounts SET balance = balance + 1000000 WHERE id = $1",
                    &[&from],
                )
                .await
                .unwrap();
                tx.rollback().await.unwrap();
                tally.kinds[4] += 1;
            }
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_clients_of_mixed_transactions_conserve_every_invariant() {
    let transactions: u64 = std::env::var("PGLITE_LOAD_TRANSACTIONS")
        .map(|v| v.parse().expect("PGLITE_LOAD_TRANSACTIONS: a number"))
        .unwrap_or(DEFAULT_TRANSACTIONS);
    // Ten clients take turns at the one backend: give a waiting one time.
    let server = Pglite::builder()
        .temporary()
        .busy_timeout(Duration::from_secs(120))
        .server()
        .start()
        .unwrap();
    let url = server.database_url().to_owned();
    let setup = connect(&url).await;
    setup
        .batch_execute(&format!(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
             INSERT INTO accounts SELECT g, {OPENING_BALANCE} FROM generate_series(1, {ACCOUNTS}) g;
             CREATE TABLE ledger (id bigserial PRIMARY KEY, src int NOT NULL, dst int NOT NULL,
                                  amount bigint NOT NULL CHECK (amount > 0));"
        ))
        .await
        .unwrap();

    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|seed| tokio::spawn(run_client(url.clone(), seed + 1, transactions)))
        .collect();
    let mut committed = Vec::new();
    let mut refused = 0;
    let mut kinds = [0u64; 5];
    for client in clients {
        let tally = client.await.unwrap();
        committed.extend(tally.committed);
        refused += tally.refused;
        for (all, one) in kinds.iter_mut().zip(tally.kinds) {
            *all += one;
        }
    }
    let elapsed = started.elapsed();

    // Money is conserved.
    assert_eq!(total(&setup).await, TOTAL);
    // Each balance is the opening balance plus what the ledger says.
    let mismatched: i64 = setup
        .query_one(
            &format!(
                "SELECT count(*) FROM accounts a WHERE a.balance <> {OPENING_BALANCE}
                   + coalesce((SELECT sum(amount) FROM ledger WHERE dst = a.id), 0)
                   - coalesce((SELECT sum(amount) FROM ledger WHERE src = a.id), 0)"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mismatched, 0, "balances disagree with the ledger");
    // The ledger holds exactly the transfers clients saw commit.
    committed.sort_unstable();
    let ledger: Vec<i64> = setup
        .query("SELECT id FROM ledger ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(ledger.len(), committed.len());
    assert!(
        ledger == committed,
        "the ledger is not what clients saw commit"
    );
    let negative: i64 = setup
        .query_one("SELECT count(*) FROM accounts WHERE balance < 0", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(negative, 0);

    eprintln!(
        "load: {CLIENTS} clients x {transactions} transactions in {elapsed:.1?}: \
         {} transfers committed, {refused} refused, by kind {kinds:?} \
         (plain, savepoint, one statement, pipelined reads, rolled back)",
        committed.len()
    );
    drop(setup);
    server.shutdown().unwrap();
}
