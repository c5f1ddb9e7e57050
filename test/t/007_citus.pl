# Tables that Citus manages are refused (SPEC section 9, last point): with
# Citus itself, when it is installed on this machine.  Citus is not in
# Debian's registries, so this file is skipped where it is missing -- and
# scripts/test.sh reports it as skipped, not as passed.  (What can be
# tested without Citus, the refusal path with a stand-in catalog, is
# 006_citus_standin.pl.)
#
# One node, Citus's coordinator holding its own shards: a distributed
# table, a reference table and a Citus-local table are each refused with
# 0A000 by registration, before anything is written; a table registered
# while plain and distributed afterwards is refused by every function
# (apply, delete, staging, import, the feed, its status, purge,
# max_sequence) and may still be unregistered; a staging table that Citus
# manages is refused; a shard table itself is refused.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => "Citus is not installed on this machine ($sharedir/extension/citus.control is missing)"
  unless -e "$sharedir/extension/citus.control";

my $node = PostgreSQL::Test::Cluster->new('citus');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'citus'\nmax_connections = 60\ncitus.shard_count = 4\nlisten_addresses = 'localhost'\n");
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION citus;
CREATE EXTENSION pg_sequenced;
CREATE TABLE dist (id int PRIMARY KEY, v text);
SELECT create_distributed_table('dist', 'id');
CREATE TABLE ref (id int PRIMARY KEY, v text);
SELECT create_reference_table('ref');
CREATE TABLE loc (id int PRIMARY KEY, v text);
SELECT citus_add_local_table_to_metadata('loc');
CREATE TABLE later (id int PRIMARY KEY, v text);
SELECT sequenced_register('later');
SELECT count(*) FROM sequenced_upsert('later', '{"id": 1, "v": "a"}', 1);
});
note('Citus: ' . $node->safe_psql('postgres', 'SELECT citus_version()'));

# Run SQL expecting an error: returns "SQLSTATE: message"
sub refused
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY sqlstate\n$sql");
	$err =~ s/^.*ERROR:\s*//s;
	chomp $err;
	return $ret == 0 ? "no error: $out" : $err;
}

for my $t ('dist', 'ref', 'loc')
{
	is(refused("SELECT sequenced_register('$t')"), '0A000', "registering a Citus table ($t) is refused");
	is($node->safe_psql('postgres', "SELECT count(*) FROM sequenced_tables WHERE relid = '$t'::regclass"),
		'0', "nothing was registered ($t)");
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_attribute WHERE attrelid = '$t'::regclass AND attname = '_sdc_sequence'"),
		'0', "no column was added ($t)");
}

# registered while plain, then distributed: every function refuses it
$node->safe_psql('postgres', q{SET citus.enable_unsafe_triggers = on; SELECT create_distributed_table('later', 'id')});
for my $sql (
	q{SELECT * FROM sequenced_upsert('later', '{"id": 2, "v": "b"}', 2)},
	q{SELECT * FROM sequenced_upsert('later', '[{"sequence": 2, "data": {"id": 2}}]')},
	q{SELECT * FROM sequenced_delete('later', '{"id": 1}', 3)},
	q{SELECT * FROM sequenced_changes('later')},
	q{SELECT * FROM sequenced_feed_status('later')},
	q{SELECT sequenced_purge_tombstones('later', 10)},
	q{SELECT sequenced_max_sequence('later')},
	q{SELECT sequenced_register('later')},
	q{SELECT * FROM sequenced_import('{"table_name": "later", "key_names": ["id"], "schema": {"properties": {"id": {"type": "integer"}, "w": {"type": "string"}}}, "messages": [{"sequence": 5, "data": {"id": 5}}]}')})
{
	is(refused($sql), '0A000', "refused: $sql");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM later}), '1', 'the distributed table holds what it held');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_attribute WHERE attrelid = 'later'::regclass AND attname = 'w'}),
	'0', 'the refused import added no column');

# the staging trigger: a plain staging table into a Citus target, and a
# Citus staging table into a plain target
$node->safe_psql('postgres', q{
CREATE TABLE plain_t (id int PRIMARY KEY, v text);
SELECT sequenced_register('plain_t');
CREATE TABLE inbox_plain (id int, v text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON inbox_plain REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('later');
});
is(refused(q{INSERT INTO inbox_plain VALUES (7, 'x', 7)}), '0A000', 'staging into a Citus table is refused');
my $inbox_ret = $node->psql('postgres', q{
SET citus.enable_unsafe_triggers = on;
CREATE TABLE inbox_ref (id int, v text, _sdc_sequence bigint);
SELECT create_reference_table('inbox_ref');
CREATE TRIGGER apply AFTER INSERT ON inbox_ref REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('plain_t');
});
SKIP:
{
	skip 'Citus refuses a transition-table trigger on its own tables', 1 if $inbox_ret != 0;
	is(refused(q{INSERT INTO inbox_ref VALUES (8, 'y', 8)}), '0A000',
		'a staging table Citus manages is refused');
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM plain_t}), '0', 'nothing reached the plain target');

# a shard of a distributed table (this node holds them)
my $shard = $node->safe_psql('postgres', q{
SET citus.show_shards_for_app_name_prefixes = '*';
SELECT c.oid::regclass FROM pg_class c WHERE c.relname LIKE 'dist\_%' AND c.relkind = 'r' ORDER BY 1 LIMIT 1});
ok($shard ne '', "a shard of dist is here ($shard)");
is(refused("SET citus.show_shards_for_app_name_prefixes = '*'; SELECT sequenced_register('$shard')"), '0A000',
	'registering a shard is refused');

# unregistering stays possible (dropping its TRUNCATE trigger needs the
# setting distributing it needed)
$node->safe_psql('postgres', q{SET citus.enable_unsafe_triggers = on; SELECT sequenced_unregister('later')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_tables WHERE relid = 'later'::regclass}),
	'0', 'a Citus table registered before may be unregistered');

$node->stop;
done_testing();
