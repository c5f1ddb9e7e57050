# The refusal of Citus-managed tables, exercised without Citus.
#
# This is NOT a test of Citus (007_citus.pl is, where Citus is installed):
# it runs pg_sequenced's own check against a stand-in -- an extension named
# citus whose script makes a catalog of the shape pg_sequenced reads,
# pg_catalog.pg_dist_partition (logicalrelid, partmethod) -- in a private
# copy of this PostgreSQL installation, so that the refusal path runs on
# every machine.  It shows that:
#  - without an extension named citus, nothing is checked and everything
#    works (the stand-in is made after the first calls);
#  - with it, a table listed in pg_dist_partition is refused with 0A000 by
#    registration, every apply function, staging (as target and as staging
#    table), import, the feed, its status, purge and max_sequence, before
#    anything is written; the error names the table;
#  - a table not listed keeps working, and one listed after the fact is
#    refused at its next call (the relcache invalidation of the table
#    drops the cached answer).

use strict;
use warnings;

use File::Copy;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# a private copy of the installation that pg_config names, laid out as it is
my $root = PostgreSQL::Test::Utils::tempdir('install');
my %dir;
for my $d ('bindir', 'sharedir', 'pkglibdir', 'libdir')
{
	$dir{$d} = `pg_config --$d`;
	chomp $dir{$d};
}
my $home = $dir{bindir};
$home =~ s{/bin$}{};
for my $d ($home, $dir{sharedir})
{
	make_path("$root$d");
	system('cp', '-a', "$d/.", "$root$d/") == 0 or die "cannot copy $d";
}
open my $ctl, '>', "$root$dir{sharedir}/extension/citus.control" or die;
print $ctl "comment = 'stand-in for the Citus catalog (pg_sequenced test, not Citus)'\n"
  . "default_version = '0.0'\nrelocatable = false\nsuperuser = true\n";
close $ctl;
open my $sql, '>', "$root$dir{sharedir}/extension/citus--0.0.sql" or die;
print $sql "SET allow_system_table_mods = on;\n"
  . "CREATE TABLE pg_catalog.pg_dist_partition (logicalrelid pg_catalog.regclass NOT NULL, partmethod \"char\" NOT NULL);\n"
  . "GRANT SELECT ON pg_catalog.pg_dist_partition TO PUBLIC;\n";
close $sql;

my $node = PostgreSQL::Test::Cluster->new('standin', install_path => "$root$home");
$node->init;
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_sequenced;
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT sequenced_register('t');
SELECT count(*) FROM sequenced_upsert('t', '{"id": 1, "v": "a"}', 1);
CREATE TABLE other (id int PRIMARY KEY, v text);
CREATE TABLE inbox (id int, v text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON inbox REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('t');
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'citus'}), '0',
	'no extension named citus: nothing is checked');
$node->safe_psql('postgres', q{INSERT INTO inbox VALUES (2, 'b', 2)});
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM t}), '1,2',
	'without it, registration, upsert and staging work');

# the stand-in, listing t and the staging table inbox2 (not the target other)
$node->safe_psql('postgres', q{
CREATE EXTENSION citus;
INSERT INTO pg_catalog.pg_dist_partition VALUES ('t', 'h'), ('other', 'n');
SELECT pg_catalog.pg_sleep(0);
});

sub refused
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY default\n$sql");
	return $ret == 0 ? "no error: $out" : ($err =~ /ERROR:\s+(.*)/)[0];
}

# the cached "not Citus" answer for t is dropped with t's relcache entry:
# a listed table's row in pg_dist_partition comes with one (here: by hand)
$node->safe_psql('postgres', q{ALTER TABLE t SET (fillfactor = 100); ALTER TABLE other SET (fillfactor = 100)});

my $msg = 'table "t" is managed by Citus';
for my $call (
	q{SELECT * FROM sequenced_upsert('t', '{"id": 3, "v": "c"}', 3)},
	q{SELECT * FROM sequenced_upsert('t', '[{"sequence": 3, "data": {"id": 3}}]')},
	q{SELECT * FROM sequenced_delete('t', '{"id": 1}', 3)},
	q{SELECT * FROM sequenced_changes('t')},
	q{SELECT * FROM sequenced_feed_status('t')},
	q{SELECT sequenced_purge_tombstones('t', 10)},
	q{SELECT sequenced_max_sequence('t')},
	q{SELECT sequenced_register('t', on_equal => 'replace')},
	q{INSERT INTO inbox VALUES (4, 'd', 4)},
	q{SELECT * FROM sequenced_import('{"table_name": "t", "key_names": ["id"], "schema": {"properties": {"id": {"type": "integer"}, "w": {"type": "string"}}}, "messages": [{"sequence": 5, "data": {"id": 5}}]}')})
{
	is(refused($call), $msg, "refused: $call");
}
is(refused(q{SELECT sequenced_register('other')}), 'table "other" is managed by Citus',
	'registering a listed table is refused');
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM t}), '1,2',
	'nothing was written');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_attribute WHERE attrelid IN ('t'::regclass, 'other'::regclass) AND attname IN ('w', '_sdc_sequence') AND attrelid = 'other'::regclass}),
	'0', 'no column was added to the refused table');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'w'}),
	'0', 'the refused import added no column');
my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT sequenced_register('other')");
like($err, qr/ERROR:\s+0A000:/, 'SQLSTATE 0A000');
like($err, qr/TABLE NAME:\s+other/, 'the error carries the table');

# a staging table listed in the catalog is refused as such
$node->safe_psql('postgres', q{
CREATE TABLE fresh (id int PRIMARY KEY, v text);
SELECT sequenced_register('fresh');
CREATE TABLE inbox2 (id int, v text, _sdc_sequence bigint);
CREATE TRIGGER apply AFTER INSERT ON inbox2 REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sequenced_apply_staging('fresh');
INSERT INTO pg_catalog.pg_dist_partition VALUES ('inbox2', 'h');
});
is(refused(q{INSERT INTO inbox2 VALUES (1, 'x', 1)}), 'staging table "inbox2" is managed by Citus',
	'a listed staging table is refused');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fresh}), '0', 'nothing reached the target');

# a table not listed keeps working; unregistering a listed one works
is($node->safe_psql('postgres', q{SELECT outcome FROM sequenced_upsert('fresh', '{"id": 1}', 1)}), 'inserted',
	'a table that is not listed works');
$node->safe_psql('postgres', q{SELECT sequenced_unregister('t')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_tables WHERE relid = 't'::regclass}), '0',
	'a listed table may be unregistered');

$node->stop;
done_testing();
