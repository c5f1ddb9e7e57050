#!/usr/bin/env node
// A pg_sequenced consumer worker (SPEC section 8), with node-postgres (`pg`).
//
// It keeps a mirror table equal to a registered table: it receives a batch
// of changes, then acknowledges them and applies them to the mirror in one
// transaction, so a crash or an error takes the work and the
// acknowledgement back together and the changes come again (after the
// visibility timeout, or the nack's retry_after) -- each one is applied
// exactly once.  Run as many workers of one consumer as you like: they
// never get the same key at once.
//
//     npm install pg
//     CONSUMER=mirror MIRROR=customers_mirror node consumer.js
//
// The mirror needs the source's columns (or some of them) and the same key;
// the connection comes from the usual PG* environment variables.
//
// Options (environment): CONSUMER, MIRROR, KEY (default id), BATCH (100),
// WAIT (seconds a receive waits for a change, 5), IDLE_EXIT (exit after
// that many seconds without a change; default: run for ever), RETRY_AFTER
// (seconds before a failed batch comes again, 10).
'use strict';

const { Client } = require('pg');

const consumer = process.env.CONSUMER || 'mirror';
const mirror = process.env.MIRROR || 'mirror';
const key = process.env.KEY || 'id';
const batch = parseInt(process.env.BATCH || '100', 10);
const wait = parseFloat(process.env.WAIT || '5');
const idleExit = process.env.IDLE_EXIT === undefined ? null : parseFloat(process.env.IDLE_EXIT);
const retryAfter = parseFloat(process.env.RETRY_AFTER || '10');

// "schema"."table", "column": quoted identifiers
const ident = (name) => name.split('.').map((p) => '"' + p.replace(/"/g, '""') + '"').join('.');

async function mirrorColumns(client) {
  const { rows } = await client.query(
    'SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = $1::regclass ' +
      'AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [mirror]);
  return rows.map((r) => ident(r.attname));
}

async function main() {
  const client = new Client();
  await client.connect();
  const m = ident(mirror);
  const k = ident(key);
  const cols = await mirrorColumns(client);
  // one change: the key's current row (by column name), or its delete
  const upsert =
    `INSERT INTO ${m} SELECT * FROM pg_catalog.jsonb_populate_record(NULL::${m}, $1) ` +
    `ON CONFLICT (${k}) DO UPDATE SET (${cols.join(', ')}) = ROW(${cols.map((c) => 'EXCLUDED.' + c).join(', ')})`;
  const remove = `DELETE FROM ${m} WHERE ${k} = (pg_catalog.jsonb_populate_record(NULL::${m}, $1)).${k}`;

  let applied = 0;
  let idleSince = Date.now();
  for (;;) {
    // hand me a batch: its keys are mine for the visibility timeout
    const { rows } = await client.query(
      'SELECT ack_id, key, deleted, record FROM sequenced_receive($1, $2, make_interval(secs => $3))',
      [consumer, batch, wait]);
    if (rows.length === 0) {
      if (idleExit !== null && (Date.now() - idleSince) / 1000 >= idleExit) break;
      continue;
    }
    idleSince = Date.now();
    const ackIds = rows.map((r) => r.ack_id); // bigints, as strings
    try {
      // the acknowledgement and the work commit together, or not at all
      await client.query('BEGIN');
      // first: a delivery that expired and went to another worker is not
      // acknowledged -- then the batch is not ours to apply; and once
      // acknowledged (not yet committed) no other worker can be handed it
      const ack = await client.query('SELECT sequenced_ack($1, $2::bigint[]) AS n', [consumer, ackIds]);
      if (Number(ack.rows[0].n) !== ackIds.length) {
        throw new Error('some deliveries expired and went to another worker');
      }
      for (const r of rows) {
        if (r.deleted) await client.query(remove, [r.key]);
        else await client.query(upsert, [r.record]);
      }
      await client.query('COMMIT');
      applied += rows.length;
    } catch (e) {
      // rolled back: have the batch come again later
      await client.query('ROLLBACK');
      console.error(`consumer.js: batch failed: ${e.message}`);
      await client.query('SELECT sequenced_nack($1, $2::bigint[], make_interval(secs => $3))',
        [consumer, ackIds, retryAfter]);
    }
  }
  console.error(`consumer.js: ${applied} changes applied`);
  await client.end();
}

main().catch((e) => {
  console.error(`consumer.js: ${e.message}`);
  process.exit(1);
});
