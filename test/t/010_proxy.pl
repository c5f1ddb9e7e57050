# More than one machine (SPEC section 9): batches routed to shard servers
# by PL/Proxy, through pg_sequenced_proxy.
#
# One proxy server and 4 shard servers on loopback (TCP, 127.0.0.1, the
# ports the test framework picks), plus a single server with pg_sequenced
# as the reference.  The standard out-of-order dataset (bench/gen.py, with
# every 11th message turned into a delete of its key) is applied through
# the proxy in batches of 1 (a prefix), 100 and 10,000 and, batch for
# batch, to the reference; then:
#
#  - every output row (batch, ord, key, seq, outcome) is the reference's,
#    in the batch's order;
#  - the union of the shards' tables is the reference's table, and so are
#    the tombstones (the feed's deleted keys); every key is on the shard
#    its hash names; sequenced_max_sequence through the proxy is the
#    reference's;
#  - the feed through the proxy, read page by page while the batches of
#    100 go in and to the end afterwards, mirrored into a table on the
#    proxy, ends equal to the reference's table;
#  - a rescan (every key but 5% sent at S, then sequenced_delete_missing)
#    deletes what the reference deletes, in the same key order; missing
#    keys that are a third of one shard but 8% of the table do not trip
#    the breaker (it counts over all shards); a half snapshot trips it
#    (54000, both counts over all shards, nothing deleted on any shard),
#    and max_fraction => 1 then deletes as the reference does;
#  - the same dataset through a 1-shard and a 2-shard cluster gives the
#    same outputs and tables;
#  - a shard stopped mid-run: the batch fails with 08006, and after the
#    restart, sending that batch again and going on converges to the
#    reference;
#  - equal keys sent in other forms ("2" and 2 into an integer key, 1.5
#    and "1.50" into numeric(10,2), case in a uuid, an instant at two
#    UTC offsets, padding in character(3), ...) reach the same shard
#    and are one key; the hash of a few keys is pinned (the hash must
#    never change: it would move keys between shards);
#  - errors: keys checked on the proxy name the position in the batch;
#    a shard's error keeps its SQLSTATE, and its position is mapped back
#    where the shard can be told; registration refuses tables that
#    differ between shards, key types the hash does not know, and a
#    shard count that is not a power of two.
#
# Needs PL/Proxy (Debian's postgresql-15-plproxy, which scripts/setup.sh
# installs): skipped where plproxy.control is missing.  The rescan parts
# need pg_sequenced's sequenced_delete_missing and
# sequenced_delete_missing_count on the shards: they fail (not skip) when
# those are missing.

use strict;
use warnings;

use Cwd;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => "PL/Proxy is not installed ($sharedir/extension/plproxy.control is missing; scripts/setup.sh installs postgresql-15-plproxy)"
  unless -e "$sharedir/extension/plproxy.control";

my $N = 30000;        # messages
my $IDS = 5000;       # distinct ids
my $B1 = 1000;        # messages applied one per call

# ---------------------------------------------------------------- servers
sub new_node
{
	my ($name, $tcp) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"fsync = off\nsynchronous_commit = off\nmax_connections = 40\njit = off\n"
		  . ($tcp ? "listen_addresses = '127.0.0.1'\n" : ''));
	$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n") if $tcp;
	$node->start;
	return $node;
}

my @shards = map { new_node("shard$_", 1) } 0 .. 3;
my $proxy = new_node('proxy', 0);
my $ref = new_node('ref', 0);

sub connstr
{
	my ($node, $db) = @_;
	return "host=127.0.0.1 port=" . $node->port . " dbname=$db";
}

# Run SQL expecting an error: "SQLSTATE" (or "no error: ...")
sub sqlstate_of
{
	my ($node, $sql, $db) = @_;
	my ($ret, $out, $err) = $node->psql($db // 'postgres', "\\set VERBOSITY sqlstate\n$sql");
	$err =~ s/^.*ERROR:\s*//s;
	chomp $err;
	return $ret == 0 ? "no error: $out" : $err;
}

# Run SQL expecting an error: the whole error text (verbose)
sub error_of
{
	my ($node, $sql, $db) = @_;
	my ($ret, $out, $err) = $node->psql($db // 'postgres', "\\set VERBOSITY verbose\n$sql");
	return $ret == 0 ? "no error: $out" : $err;
}

# Compare two lists of lines (sorted or in order), reporting the first difference
sub same_lines
{
	my ($got, $want, $name) = @_;
	my @g = @$got;
	my @w = @$want;
	for my $i (0 .. ($#g > $#w ? $#g : $#w))
	{
		my $a = $g[$i] // '(none)';
		my $b = $w[$i] // '(none)';
		if ($a ne $b)
		{
			fail($name);
			diag("line $i: got '$a', want '$b' (" . scalar(@g) . " lines against " . scalar(@w) . ")");
			return 0;
		}
	}
	pass("$name (" . scalar(@w) . " lines)");
	return 1;
}

sub lines
{
	my ($node, $sql, $db) = @_;
	my $out = $node->safe_psql($db // 'postgres', $sql);
	return [ grep { $_ ne '' } split /\n/, $out ];
}

sub union_of_shards
{
	my ($sql, $db, $nshards) = @_;
	$nshards //= 4;
	my @all;
	push @all, @{ lines($shards[$_], $sql, $db) } for 0 .. $nshards - 1;
	return [ sort @all ];
}

# ---------------------------------------------------------------- dataset
my $work = PostgreSQL::Test::Utils::tempdir('proxy');
my $gen = getcwd() . '/bench/gen.py';
system('python3', $gen, '--messages', $N, '--ids', $IDS, '--batch-sizes', '100', "$work/data") == 0
  or die "bench/gen.py failed";
chmod 0755, $work, "$work/data";

my $load = qq{
CREATE TABLE msgs (pos int PRIMARY KEY, msg jsonb NOT NULL);
COPY msgs FROM '$work/data/msgs.tsv';
-- every 11th message deletes its key (at its own, out-of-order, sequence)
UPDATE msgs SET msg = jsonb_build_object('action', 'delete', 'sequence', msg->'sequence',
                                         'data', jsonb_build_object('id', msg->'data'->'id'))
 WHERE pos % 11 = 0;
CREATE TABLE batches (bsize int, batch_no int, payload jsonb NOT NULL, PRIMARY KEY (bsize, batch_no));
INSERT INTO batches
SELECT s.b, (m.pos - 1) / s.b + 1, jsonb_agg(m.msg ORDER BY m.pos)
  FROM (VALUES (1), (100), (10000)) s(b)
  JOIN msgs m ON m.pos <= CASE WHEN s.b = 1 THEN $B1 ELSE 2147483647 END
 GROUP BY 1, 2;
CREATE TABLE outs (tbl text, batch_no int, ord int, key jsonb, seq bigint, outcome text);
-- apply batches first..last of size bs to tbl, one transaction each, keeping the outputs
CREATE PROCEDURE apply_all(tbl text, bs int, first int DEFAULT 1, last int DEFAULT NULL)
LANGUAGE plpgsql AS \$\$
DECLARE nb int;
BEGIN
  SELECT max(batch_no) INTO nb FROM batches WHERE bsize = bs;
  FOR b IN first .. coalesce(last, nb) LOOP
    EXECUTE format('INSERT INTO outs SELECT %L, %s, r.ord, r.key, r.seq, r.outcome
                      FROM batches, sequenced_upsert(%L, payload) r
                     WHERE bsize = %s AND batch_no = %s', tbl, b, tbl, bs, b);
    COMMIT;
  END LOOP;
END \$\$;
};
$proxy->safe_psql('postgres', $load);
$ref->safe_psql('postgres', $load);
is($ref->safe_psql('postgres', "SELECT count(*), count(*) FILTER (WHERE msg->>'action' = 'delete') FROM msgs"),
	"$N|" . int($N / 11), "dataset: $N messages, every 11th a delete");

# ---------------------------------------------------------------- tables and clusters
my $ddl = q{
CREATE TABLE t_b1 (id int PRIMARY KEY, name text, age int, has_magic boolean);
CREATE TABLE t_b100 (LIKE t_b1 INCLUDING ALL);
CREATE TABLE t_b10000 (LIKE t_b1 INCLUDING ALL);
CREATE TABLE t_stop (LIKE t_b1 INCLUDING ALL);
SELECT sequenced_register('t_b1'), sequenced_register('t_b100'), sequenced_register('t_b10000'),
       sequenced_register('t_stop');
};
$ref->safe_psql('postgres', "CREATE EXTENSION pg_sequenced;\n$ddl");
for my $s (@shards)
{
	$s->safe_psql('postgres', "CREATE EXTENSION pg_sequenced;\n$ddl");
}
# the 1- and 2-shard clusters: their own databases on shards 0 and 1
for my $db ('one', 'two')
{
	for my $s ($db eq 'one' ? @shards[0 .. 0] : @shards[0 .. 1])
	{
		$s->safe_psql('postgres', "CREATE DATABASE $db");
		$s->safe_psql($db, "CREATE EXTENSION pg_sequenced;\n$ddl");
	}
}

my $servers = join(', ', map { "p$_ '" . connstr($shards[$_], 'postgres') . "'" } 0 .. 3);
$proxy->safe_psql('postgres', qq{
CREATE EXTENSION pg_sequenced_proxy CASCADE;
CREATE SERVER sequenced FOREIGN DATA WRAPPER plproxy OPTIONS ($servers);
CREATE SERVER one FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '@{[connstr($shards[0], 'one')]}');
CREATE SERVER two FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '@{[connstr($shards[0], 'two')]}',
                                                        p1 '@{[connstr($shards[1], 'two')]}');
CREATE USER MAPPING FOR PUBLIC SERVER sequenced;
CREATE USER MAPPING FOR PUBLIC SERVER one;
CREATE USER MAPPING FOR PUBLIC SERVER two;
SELECT sequenced_proxy_register(t) FROM unnest('{t_b1,t_b100,t_b10000,t_stop}'::text[]) t;
});
is($proxy->safe_psql('postgres', q{SELECT string_agg(target || ':' || cluster || ':' || key_columns::text || ':' || key_types::text, ' ' ORDER BY target COLLATE "C") FROM sequenced_proxy_tables}),
	'public.t_b1:sequenced:{id}:{integer} public.t_b100:sequenced:{id}:{integer} public.t_b10000:sequenced:{id}:{integer} public.t_stop:sequenced:{id}:{integer}',
	'registration on the proxy reads the key columns and their types from the shards');

# ---------------------------------------------------------------- checks
sub check_table
{
	my ($t, $what, $db, $nshards) = @_;
	$db //= 'postgres';
	my $rows = "SELECT id, name, age, has_magic, _sdc_sequence FROM $t";
	same_lines(union_of_shards($rows, $db, $nshards), [ sort @{ lines($ref, $rows) } ],
		"$what: the union of the shards' rows is the reference's");
	my $tomb = "SELECT key::text, seq FROM sequenced_changes('$t') WHERE deleted";
	same_lines(union_of_shards($tomb, $db, $nshards), [ sort @{ lines($ref, $tomb) } ],
		"$what: the union of the shards' tombstones is the reference's");
}

sub check_outputs
{
	my ($t, $what) = @_;
	my $q = "SELECT batch_no, ord, key, seq, outcome FROM outs WHERE tbl = '$t' ORDER BY batch_no, ord";
	same_lines(lines($proxy, $q), lines($ref, $q), "$what: every output row is the reference's, in batch order");
}

sub check_placement
{
	my ($t) = @_;
	my $bad = 0;
	for my $k (0 .. 3)
	{
		my $ids = $shards[$k]->safe_psql('postgres', "SELECT coalesce(array_agg(id), '{}') FROM $t");
		$bad += $proxy->safe_psql('postgres',
			"SELECT count(*) FROM unnest('$ids'::int[]) id WHERE sequenced_proxy_shard('$t', jsonb_build_object('id', id)) <> $k");
	}
	is($bad, 0, "$t: every key is on the shard its hash names");
}

# ---------------------------------------------------------------- B = 1, 100, 10,000
$proxy->safe_psql('postgres', q{CALL apply_all('t_b1', 1)});
$ref->safe_psql('postgres', q{CALL apply_all('t_b1', 1)});
check_outputs('t_b1', "B=1 ($B1 messages)");
check_table('t_b1', 'B=1');

# B=100, with the feed mirrored into a table on the proxy as the batches go in
$proxy->safe_psql('postgres', q{
CREATE TABLE mirror (id int PRIMARY KEY, name text, age int, has_magic boolean, _sdc_sequence bigint);
CREATE TABLE feed_cursor (tbl text PRIMARY KEY, pos bigint[]);
-- read one page of the feed from the kept cursor, apply it, keep the last pos
CREATE FUNCTION mirror_page(p_tbl text, p_rows int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE cur bigint[]; r record; k int := 0;
BEGIN
  SELECT c.pos INTO cur FROM feed_cursor c WHERE c.tbl = p_tbl;
  FOR r IN SELECT * FROM sequenced_changes(p_tbl, cur, p_rows) LOOP
    k := k + 1;
    IF r.deleted THEN
      DELETE FROM mirror m WHERE m.id = (r.key->>'id')::int;
    ELSE
      INSERT INTO mirror SELECT * FROM jsonb_populate_record(NULL::mirror, r.record)
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, age = excluded.age,
                                     has_magic = excluded.has_magic, _sdc_sequence = excluded._sdc_sequence;
    END IF;
    cur := r.pos;
  END LOOP;
  INSERT INTO feed_cursor VALUES (p_tbl, cur) ON CONFLICT (tbl) DO UPDATE SET pos = excluded.pos;
  RETURN k;
END $$;
});
my $nb100 = int(($N + 99) / 100);
my $pages = 0;
for (my $first = 1; $first <= $nb100; $first += 40)
{
	my $last = $first + 39 > $nb100 ? $nb100 : $first + 39;
	$proxy->safe_psql('postgres', "CALL apply_all('t_b100', 100, $first, $last)");
	$proxy->safe_psql('postgres', "SELECT mirror_page('t_b100', 777)");
	$pages++;
}
while ($proxy->safe_psql('postgres', "SELECT mirror_page('t_b100', 777)") > 0) { $pages++; }
$ref->safe_psql('postgres', q{CALL apply_all('t_b100', 100)});
check_outputs('t_b100', 'B=100');
check_table('t_b100', 'B=100');
my $mirror = "SELECT id, name, age, has_magic, _sdc_sequence FROM %s ORDER BY id";
same_lines(lines($proxy, sprintf($mirror, 'mirror')), lines($ref, sprintf($mirror, 't_b100')),
	"the feed through the proxy, read in $pages pages while batches went in, mirrors the reference");
is($proxy->safe_psql('postgres', q{SELECT count(*) FROM sequenced_changes('t_b100', (SELECT pos FROM feed_cursor WHERE tbl = 't_b100'))}),
	'0', 'the feed has nothing after the last pos read');
is($proxy->safe_psql('postgres', q{SELECT cardinality(pos) FROM feed_cursor WHERE tbl = 't_b100'}),
	'4', 'the cursor holds one position per shard');

$proxy->safe_psql('postgres', q{CALL apply_all('t_b10000', 10000)});
$ref->safe_psql('postgres', q{CALL apply_all('t_b10000', 10000)});
check_outputs('t_b10000', 'B=10,000');
check_table('t_b10000', 'B=10,000');
check_placement('t_b10000');
for my $t ('t_b1', 't_b100', 't_b10000')
{
	is($proxy->safe_psql('postgres', "SELECT sequenced_max_sequence('$t')"),
		$ref->safe_psql('postgres', "SELECT sequenced_max_sequence('$t')"),
		"$t: sequenced_max_sequence through the proxy is the maximum over shards, the reference's");
}
my @per_shard = map { $_->safe_psql('postgres', 'SELECT count(*) FROM t_b10000') } @shards;
ok((grep { $_ > 0 } @per_shard) == 4, "keys are spread over the 4 shards (@per_shard)");

# a feed page cut by max_rows, resumed from a row in its middle, misses nothing
{
	my $all = lines($proxy, q{SELECT key::text FROM sequenced_changes('t_b10000')});
	my ($cur, %seen, $calls) = ('NULL');
	while (1)
	{
		my $rows = lines($proxy, "SELECT pos::text, key::text FROM sequenced_changes('t_b10000', $cur, 50)");
		last unless @$rows;
		$calls++;
		my $keep = @$rows > 3 ? @$rows - 2 : 1;
		my $last;
		for my $r (@$rows[0 .. $keep - 1])
		{
			my ($pos, $key) = split /\|/, $r, 2;
			$seen{$key} = 1;
			$last = $pos;
		}
		$cur = "'$last'::bigint[]";
	}
	is(scalar(keys %seen), scalar(@$all), "resuming from a row two before the end of each page of 50 misses no key ($calls pages)");
}

# ---------------------------------------------------------------- rescans
my @need = ('sequenced_delete_missing(regclass,bigint,double precision,jsonb)',
	'sequenced_delete_missing_count(regclass,bigint,jsonb)');
my $have = 1;
for my $s (@shards)
{
	for my $f (@need)
	{
		$have = 0 if $s->safe_psql('postgres', "SELECT to_regprocedure('$f') IS NULL") eq 't';
	}
}
if (!$have)
{
	fail('pg_sequenced on the shards lacks sequenced_delete_missing or sequenced_delete_missing_count: '
		  . 'the rescan through the proxy was not tested');
}
else
{
	my $t = 't_b10000';
	my $S = $ref->safe_psql('postgres', "SELECT sequenced_max_sequence('$t') + 1");
	# a snapshot of the source at sequence seq: every live row (from the
	# reference) that the filter keeps, sent through both, 1000 per call
	my $snapshot = sub {
		my ($seq, $filter) = @_;
		my $n = 0;
		for my $page (@{ lines($ref, "SELECT jsonb_agg(to_jsonb(x) - '_sdc_sequence' - 'pg')::text FROM (SELECT *, (row_number() OVER (ORDER BY id) - 1) / 1000 AS pg FROM $t WHERE $filter) x GROUP BY pg ORDER BY pg") })
		{
			$page =~ s/'/''/g;
			for my $node ($proxy, $ref)
			{
				$node->safe_psql('postgres', "SELECT count(*) FROM sequenced_upsert('$t', '$page', $seq)");
			}
			$n++;
		}
		return $n;
	};
	my $dm = "SELECT ord, key, seq, outcome FROM sequenced_delete_missing('$t', %s%s)";

	# every key but 5%
	$snapshot->($S, 'id % 20 <> 0');
	same_lines(lines($proxy, sprintf($dm, $S, '')), lines($ref, sprintf($dm, $S, '')),
		'rescan: sequenced_delete_missing through the proxy deletes what the reference deletes, in key order');
	check_table($t, 'after the rescan');
	is($proxy->safe_psql('postgres', "SELECT count(*) FROM sequenced_delete_missing('$t', $S)"), '0',
		'rescan: calling it again with the same S deletes nothing more');

	# a third of shard 0's keys missing: over 10% of that shard, under 10% of the table
	my $S2 = $S + 1;
	my $shard0 = $shards[0]->safe_psql('postgres', "SELECT array_agg(id) FROM $t WHERE id % 3 = 0");
	my $live = $ref->safe_psql('postgres', "SELECT count(*) FROM $t");
	my $omit = $ref->safe_psql('postgres', "SELECT count(*) FROM $t WHERE id = ANY ('$shard0')");
	my $on0 = $shards[0]->safe_psql('postgres', "SELECT count(*) FROM $t");
	ok($omit > 0.1 * $on0 && $omit <= 0.1 * $live,
		"rescan: the keys left out are $omit of shard 0's $on0 but of the table's $live");
	$snapshot->($S2, "NOT id = ANY ('$shard0')");
	same_lines(lines($proxy, sprintf($dm, $S2, '')), lines($ref, sprintf($dm, $S2, '')),
		'rescan: the breaker counts over all shards (one shard over max_fraction, the table under it: deleted)');
	check_table($t, 'after the second rescan');

	# half a snapshot: the breaker trips over all shards, nothing is deleted anywhere
	my $S3 = $S + 2;
	$snapshot->($S3, 'id % 2 = 0');
	my @before = map { $_->safe_psql('postgres', "SELECT count(*) FROM $t") } @shards;
	my $perr = error_of($proxy, sprintf($dm, $S3, ''));
	my $rerr = error_of($ref, sprintf($dm, $S3, ''));
	like($perr, qr/ERROR:  54000: sequenced_delete_missing would delete too large a part of table public\.t_b10000/,
		'rescan: half a snapshot trips the breaker through the proxy (54000, the table named)');
	like($perr, qr/HINT:  .*max_fraction/, 'rescan: the HINT names max_fraction');
	my ($pm, $pl) = $perr =~ /DETAIL:  (\d+) of (\d+) live keys/;
	my ($rm, $rl) = $rerr =~ /DETAIL:  (\d+) of (\d+) live keys/;
	ok(defined $pm && $pm == $rm && $pl == $rl, "rescan: DETAIL gives both counts over all shards ($pm of $pl; the reference: $rm of $rl)");
	my @after = map { $_->safe_psql('postgres', "SELECT count(*) FROM $t") } @shards;
	is("@after", "@before", 'rescan: the tripped breaker deleted nothing on any shard');
	same_lines(lines($proxy, sprintf($dm, $S3, ', max_fraction => 1')), lines($ref, sprintf($dm, $S3, ', max_fraction => 1')),
		'rescan: with max_fraction => 1 it deletes as the reference does');
	check_table($t, 'after the half rescan');
	is($proxy->safe_psql('postgres', "SELECT sequenced_max_sequence('$t')"), $S3,
		'rescan: max_sequence over shards is the snapshot\'s');
	is(sqlstate_of($proxy, "SELECT * FROM sequenced_delete_missing('$t', $S3, -1)"), '22023',
		'rescan: a negative max_fraction is 22023');
}

# ---------------------------------------------------------------- 1 and 2 shards
for my $c (['one', 1], ['two', 2])
{
	my ($db, $n) = @$c;
	# the same table name in another cluster: the proxy knows one table of a
	# name at a time, so t_b100 is registered again, for this cluster
	$proxy->safe_psql('postgres', "SELECT sequenced_proxy_register('t_b100', '$db')");
	$proxy->safe_psql('postgres', "DELETE FROM outs WHERE tbl = 't_b100'");
	$proxy->safe_psql('postgres', "CALL apply_all('t_b100', 100)");
	check_outputs('t_b100', "$n shard(s), B=100");
	check_table('t_b100', "$n shard(s), B=100", $db, $n);
	is($proxy->safe_psql('postgres', "SELECT sequenced_max_sequence('t_b100')"),
		$ref->safe_psql('postgres', "SELECT sequenced_max_sequence('t_b100')"),
		"$n shard(s): max_sequence is the reference's");
}
$proxy->safe_psql('postgres', "SELECT sequenced_proxy_register('t_b100', 'sequenced')");

# ---------------------------------------------------------------- a shard stopped mid-run
{
	my $half = int($nb100 / 2);
	$proxy->safe_psql('postgres', "CALL apply_all('t_stop', 100, 1, $half)");
	$shards[2]->stop('fast');
	my $err = error_of($proxy, "CALL apply_all('t_stop', 100, $half + 1, $half + 1)");
	like($err, qr/ERROR:  08006: a shard could not be reached/, 'a stopped shard: the batch fails with 08006');
	like($err, qr/send the whole batch again/, 'a stopped shard: the HINT says to send the batch again');
	$shards[2]->start;
	$proxy->safe_psql('postgres', "CALL apply_all('t_stop', 100, $half + 1)");
	$ref->safe_psql('postgres', "CALL apply_all('t_stop', 100)");
	check_table('t_stop', 'a shard stopped mid-run, the batch sent again after its restart');
	is($proxy->safe_psql('postgres', "SELECT sequenced_max_sequence('t_stop')"),
		$ref->safe_psql('postgres', "SELECT sequenced_max_sequence('t_stop')"),
		'a shard stopped mid-run: max_sequence is the reference\'s');
}

# ---------------------------------------------------------------- equal keys, other forms
my $keyddl = q{
CREATE TYPE color AS ENUM ('red', 'green');
CREATE DOMAIN big_id AS bigint CHECK (VALUE > 0);
CREATE TABLE k_int (id int PRIMARY KEY, v text);
CREATE TABLE k_big (id big_id PRIMARY KEY, v text);
CREATE TABLE k_num (id numeric(10,2) PRIMARY KEY, v text);
CREATE TABLE k_text (id varchar(3) PRIMARY KEY, v text);
CREATE TABLE k_char (id character(3) PRIMARY KEY, v text);
CREATE TABLE k_uuid (id uuid PRIMARY KEY, v text);
CREATE TABLE k_ts (id timestamptz PRIMARY KEY, v text);
CREATE TABLE k_date (id date PRIMARY KEY, v text);
CREATE TABLE k_comp (a int, b text, v text, PRIMARY KEY (a, b));
CREATE TABLE k_enum (id color PRIMARY KEY, v text);
CREATE TABLE k_bool (id boolean PRIMARY KEY, v text);
SELECT sequenced_register(t) FROM unnest('{k_int,k_big,k_num,k_text,k_char,k_uuid,k_ts,k_date,k_comp,k_enum,k_bool}'::regclass[]) t;
};
$_->safe_psql('postgres', $keyddl) for @shards;
$proxy->safe_psql('postgres', q{SELECT sequenced_proxy_register(t) FROM unnest('{k_int,k_big,k_num,k_text,k_char,k_uuid,k_ts,k_date,k_comp,k_enum,k_bool}'::text[]) t});
is($proxy->safe_psql('postgres', q{SELECT string_agg(target || '=' || key_types::text, ' ' ORDER BY target COLLATE "C") FROM sequenced_proxy_tables WHERE target LIKE 'public.k_%'}),
	'public.k_big={bigint} public.k_bool={boolean} public.k_char={character(3)} public.k_comp={integer,text} public.k_date={date} public.k_enum={enum} public.k_int={integer} public.k_num={"numeric(10,2)"} public.k_text={"character varying(3)"} public.k_ts={"timestamp with time zone"} public.k_uuid={uuid}',
	'key types as registered: base types of domains, modifiers, enum');

my @forms = (
	[ 'k_int', '"2"', '2', '" 2 "' ],
	[ 'k_big', '7', '"7"', '" 7"' ],
	[ 'k_num', '1.5', '"1.50"', '1.504', '"1.5e0"' ],
	[ 'k_text', '"abc"', '"abc   "' ],
	[ 'k_char', '"ab"', '"ab "', '"ab  "' ],
	[ 'k_uuid', '"f47ac10b-58cc-4372-a567-0e02b2c3d479"', '"F47AC10B-58CC-4372-A567-0E02B2C3D479"', '"{f47ac10b58cc4372a5670e02b2c3d479}"' ],
	[ 'k_ts', '"2024-01-01T10:00:00Z"', '"2024-01-01 11:00:00+01"', '"2024-01-01 05:00:00-05:00"' ],
	[ 'k_date', '"2024-01-31"', '"20240131"', '"Jan 31 2024"' ],
	[ 'k_enum', '"green"', '"green"' ],
	[ 'k_bool', 'true', '"t"', '"yes"', '"on"' ],
);
for my $f (@forms)
{
	my ($t, @vals) = @$f;
	my $seq = 0;
	my @outcomes;
	for my $v (@vals)
	{
		$seq++;
		push @outcomes, $proxy->safe_psql('postgres', qq{SELECT outcome FROM sequenced_upsert('$t', '{"id": $v, "v": "$seq"}', $seq)});
	}
	is(join(',', @outcomes), join(',', 'inserted', ('updated') x (@vals - 1)),
		"$t: the key sent as " . join(' and ', @vals) . " is one key");
	my @where = grep { $shards[$_]->safe_psql('postgres', "SELECT count(*) FROM $t") > 0 } 0 .. 3;
	my $hashed = $proxy->safe_psql('postgres', "SELECT sequenced_proxy_shard('$t', '{\"id\": $vals[0]}')");
	is("@where", $hashed, "$t: all its forms reached one shard, the one its hash names");
}
{
	my @o;
	push @o, $proxy->safe_psql('postgres', q{SELECT outcome FROM sequenced_upsert('k_comp', '{"a": "2", "b": "x"}', 1)});
	push @o, $proxy->safe_psql('postgres', q{SELECT outcome FROM sequenced_upsert('k_comp', '{"b": "x", "a": 2}', 2)});
	push @o, $proxy->safe_psql('postgres', q{SELECT outcome FROM sequenced_upsert('k_comp', '{"a": 2, "b": "x "}', 3)});
	is("@o", 'inserted updated inserted', 'k_comp: a composite key by its typed values (a text key keeps its spaces)');
}
# the caller's TimeZone converts keys on the proxy and values on the shards alike
is($proxy->safe_psql('postgres', q{SET TimeZone = 'Asia/Tokyo'; SELECT outcome FROM sequenced_upsert('k_ts', '{"id": "2024-01-01 19:00", "v": "tokyo"}', 10)}),
	'updated', 'a timestamptz key without offset is read in the caller\'s TimeZone on the proxy and the shard');
is(join('', map { $_->safe_psql('postgres', q{SET TimeZone = 'UTC'; SELECT id FROM k_ts WHERE v = 'tokyo'}) } @shards),
	'2024-01-01 10:00:00+00', 'the shard stored the instant the caller meant');

# a table ordered by a timestamptz column: sequences are timestamps, checked on the proxy too
$_->safe_psql('postgres', q{CREATE TABLE k_tsseq (id int PRIMARY KEY, v text, at timestamptz); SELECT sequenced_register('k_tsseq', sequence_column => 'at')}) for @shards;
$proxy->safe_psql('postgres', q{SELECT sequenced_proxy_register('k_tsseq')});
is($proxy->safe_psql('postgres', q{SELECT string_agg(outcome, ',' ORDER BY ord) FROM sequenced_upsert('k_tsseq', '[{"sequence": "2026-12-07T10:00:00Z", "data": {"id": 1, "v": "a"}}, {"sequence": "2026-12-07T11:00:00+02:00", "data": {"id": 1, "v": "b"}}, {"sequence": "2026-12-07T09:30:00Z", "data": {"id": 2}}]')}),
	'inserted,superseded,inserted', 'a timestamptz sequence column: RFC 3339 sequences through the proxy');
like(error_of($proxy, q{SELECT * FROM sequenced_upsert('k_tsseq', '[{"sequence": "2026-12-07T10:00:00Z", "data": {"id": 3}}, {"sequence": 1765101600000, "data": {"id": 4}}]')}),
	qr/ERROR:  22023: message 2 has a sequence that is not a timestamp/, 'a timestamptz sequence column: a number is refused on the proxy, its position named');

# delete_missing's key order is the key index's: its columns in its order, descending where it is
my $kdesc = q{CREATE TABLE k_desc (a int NOT NULL, b text NOT NULL, v text); CREATE UNIQUE INDEX k_desc_key ON k_desc (b DESC, a); SELECT sequenced_register('k_desc', key_columns => '{a,b}')};
$_->safe_psql('postgres', $kdesc) for @shards, $ref;
$proxy->safe_psql('postgres', q{SELECT sequenced_proxy_register('k_desc')});
{
	my $recs = q{(SELECT jsonb_agg(jsonb_build_object('a', g % 7, 'b', chr(97 + g % 5) || g)) FROM generate_series(1, 60) g)};
	my $snap = q{(SELECT jsonb_agg(jsonb_build_object('a', g % 7, 'b', chr(97 + g % 5) || g)) FROM generate_series(1, 60) g WHERE g % 4 <> 0)};
	my $dm = q{SELECT ord, key, seq, outcome FROM sequenced_delete_missing('k_desc', 2, max_fraction => 1)};
	for my $node ($proxy, $ref)
	{
		$node->safe_psql('postgres', "SELECT count(*) FROM sequenced_upsert('k_desc', $recs, 1)");
		$node->safe_psql('postgres', "SELECT count(*) FROM sequenced_upsert('k_desc', $snap, 2)");
	}
	same_lines(lines($proxy, $dm), lines($ref, $dm),
		'delete_missing through the proxy: in the key index\'s order (b DESC, a), as on one server') if $have;
}

# The hash is pinned: these values are computed by an independent
# implementation of the documented function (README; src/proxy.c).
my @pinned = (
	[ '{"id": 2}', '{id}', '{integer}', -1761103291 ],
	[ '{"id": "2"}', '{id}', '{bigint}', -1761103291 ],
	[ '{"id": 1.00}', '{id}', '{numeric}', 41405502 ],
	[ '{"id": -7}', '{id}', '{smallint}', -140056875 ],
	[ '{"id": "1.50"}', '{id}', '{"numeric(10,2)"}', 1805946446 ],
	[ '{"id": "abc"}', '{id}', '{text}', -230148015 ],
	[ '{"id": "\u00fc"}', '{id}', '{"character varying(5)"}', 1471185757 ],
	[ '{"a": 2, "b": "x  "}', '{a,b}', '{integer,character(3)}', 1907658396 ],
	[ '{"id": "F47AC10B-58CC-4372-A567-0E02B2C3D479"}', '{id}', '{uuid}', 1673558879 ],
	[ '{"id": true}', '{id}', '{boolean}', 116116543 ],
	[ '{"id": "2024-01-01"}', '{id}', '{date}', 1327573266 ],
	[ '{"id": "2024-01-01 11:00+01"}', '{id}', '{"timestamp with time zone"}', 1820492935 ],
	[ '{"id": "infinity"}', '{id}', '{"timestamp without time zone"}', -437984635 ],
	[ '{"id": "green"}', '{id}', '{enum}', -333937778 ],
);
for my $p (@pinned)
{
	my ($key, $cols, $types, $want) = @$p;
	is($proxy->safe_psql('postgres', "SELECT sequenced_proxy_key_hash('$key', '$cols', '$types')"), $want,
		"the hash of $key ($types) is pinned");
}

# ---------------------------------------------------------------- errors
is(sqlstate_of($proxy, q{SELECT * FROM sequenced_upsert('t_b100', '[{"sequence": 1, "data": {"id": 1}}, {"sequence": 1, "data": {"name": "x"}}]')}),
	'23502', 'a message without its key: 23502');
like(error_of($proxy, q{SELECT * FROM sequenced_upsert('t_b100', '[{"sequence": 1, "data": {"id": 1}}, {"sequence": 1, "data": {"id": 2}}, {"sequence": 1, "data": {"name": "x"}}]')}),
	qr/record 3 has no value for key column "id"/, 'a key checked on the proxy: the position in the batch');
like(error_of($proxy, q{SELECT * FROM sequenced_upsert('t_b100', '[{"sequence": 1, "data": {"id": 1}}, {"sequence": 1, "data": {"id": "one"}}]')}),
	qr/ERROR:  22P02: invalid input syntax for type integer: "one"\n.*CONTEXT:  record 2, column "id"/s,
	'a key value the type rejects: the type\'s SQLSTATE, the position and column');
like(error_of($proxy, q{SELECT * FROM sequenced_upsert('t_b100', '[{"sequence": 1, "data": {"id": 1}}, {"sequence": "x", "data": {"id": 2}}]')}),
	qr/ERROR:  22023: message 2 has a sequence that is not an integer/, 'a bad sequence: 22023, its position');
# an error on a shard: the SQLSTATE comes through, the position is the batch's when the shard can be told
$proxy->safe_psql('postgres', q{SELECT sequenced_proxy_register('t_b100', 'one')});
like(error_of($proxy, q{SELECT * FROM sequenced_upsert('t_b100', '[{"sequence": 1, "data": {"id": 1}}, {"sequence": 1, "data": {"id": 2}}, {"sequence": 1, "data": {"id": 3, "colour": "red"}}]')}),
	qr/ERROR:  42703: record 3 has property "colour", which is not a column of table "t_b100"/,
	'an error on the shard: its SQLSTATE, and its position in the batch');
$proxy->safe_psql('postgres', q{SELECT sequenced_proxy_register('t_b100', 'sequenced')});
like(error_of($proxy, q{SELECT * FROM sequenced_upsert('t_b100', (SELECT jsonb_agg(jsonb_build_object('sequence', 1, 'data', jsonb_build_object('id', g) || CASE WHEN g = 77 THEN '{"age": "old"}' ELSE '{}' END::jsonb)) FROM generate_series(1, 200) g))}),
	qr/ERROR:  22P02: invalid input syntax for type integer: "old".*HINT:  .*is one of messages .*\b77 \(shard/s,
	'an error on one of several shards: the HINT names the message of the batch it may be');
$_->safe_psql('postgres', q{CREATE TABLE k_err (id int PRIMARY KEY, v text); SELECT sequenced_register('k_err', on_equal => 'error')}) for @shards;
$proxy->safe_psql('postgres', q{SELECT sequenced_proxy_register('k_err')});
like(error_of($proxy, q{SELECT * FROM sequenced_upsert('k_err', (SELECT jsonb_agg(jsonb_build_object('sequence', 1, 'data', jsonb_build_object('id', g))) || '[{"sequence": 1, "data": {"id": 40}}]' FROM generate_series(1, 50) g))}),
	qr/ERROR:  21000: records 40 and 51 have the same sequence 1 for key \{"id": 40\}/,
	'a tie under on_equal => error: 21000, both positions in the batch (the shard told by the key)');
is(sqlstate_of($proxy, q{SELECT * FROM sequenced_upsert('nope', '[]')}), '55000', 'a table the proxy does not know: 55000');

# an append-only table: no key to hash, records spread round robin; a delete is the shard's 22023
$_->safe_psql('postgres', q{CREATE TABLE events (n int, v text); SELECT sequenced_register('events', key_columns => '{}')}) for @shards;
$proxy->safe_psql('postgres', q{SELECT sequenced_proxy_register('events')});
is($proxy->safe_psql('postgres', q{SELECT string_agg(ord || ':' || coalesce(key::text, 'null') || ':' || outcome, ',' ORDER BY ord) FROM sequenced_upsert('events', (SELECT jsonb_agg(jsonb_build_object('n', g)) FROM generate_series(1, 8) g), 1)}),
	'1:null:inserted,2:null:inserted,3:null:inserted,4:null:inserted,5:null:inserted,6:null:inserted,7:null:inserted,8:null:inserted',
	'append-only: every record inserted, key NULL, in batch order');
is(join(',', map { $_->safe_psql('postgres', 'SELECT count(*) FROM events') } @shards), '2,2,2,2',
	'append-only: records spread round robin over the shards');
is(sqlstate_of($proxy, q{SELECT * FROM sequenced_delete('events', '{"n": 1}', 2)}), '22023', 'append-only: a delete is 22023 (from the shard)');
is(sqlstate_of($proxy, q{SELECT * FROM sequenced_changes('t_b100', '{0,0}')}), '22023', 'a cursor of another shard count: 22023');

# registration refuses what it cannot route
$shards[$_]->safe_psql('postgres', q{CREATE TABLE r_diff (id int PRIMARY KEY); SELECT sequenced_register('r_diff')}) for 0 .. 2;
$shards[3]->safe_psql('postgres', q{CREATE TABLE r_diff (id bigint PRIMARY KEY); SELECT sequenced_register('r_diff')});
is(sqlstate_of($proxy, q{SELECT sequenced_proxy_register('r_diff')}), '55000', 'registration: a key type that differs between shards: 55000');
$shards[$_]->safe_psql('postgres', q{CREATE TABLE r_missing (id int PRIMARY KEY); SELECT sequenced_register('r_missing')}) for 0 .. 2;
$shards[3]->safe_psql('postgres', q{CREATE TABLE r_missing (id int PRIMARY KEY)});
like(error_of($proxy, q{SELECT sequenced_proxy_register('r_missing')}), qr/ERROR:  55000: table r_missing is not registered on shard 3/,
	'registration: a shard where the table is not registered: 55000, the shard named');
$_->safe_psql('postgres', q{CREATE TABLE r_float (id float8 PRIMARY KEY); SELECT sequenced_register('r_float')}) for @shards;
is(sqlstate_of($proxy, q{SELECT sequenced_proxy_register('r_float')}), '0A000', 'registration: a key type the hash does not know: 0A000');
my $three = "p0 '@{[connstr($shards[0], 'postgres')]}', p1 '@{[connstr($shards[1], 'postgres')]}', p2 '@{[connstr($shards[2], 'postgres')]}'";
like(error_of($proxy, "CREATE SERVER three FOREIGN DATA WRAPPER plproxy OPTIONS ($three)"), qr/must be power of 2/,
	'PL/Proxy itself refuses a cluster of 3 shards');
$proxy->safe_psql('postgres', "CREATE SERVER three FOREIGN DATA WRAPPER plproxy OPTIONS ($three, modular_mapping '1'); CREATE USER MAPPING FOR PUBLIC SERVER three");
is(sqlstate_of($proxy, q{SELECT sequenced_proxy_register('k_int', 'three')}), '22023',
	'registration: 3 shards under modular_mapping, not a power of two: 22023');

done_testing();
