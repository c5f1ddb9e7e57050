# Autovacuum and the rights of code attached to a table's types (issue 15).
#
# A role that owns a table and a range type whose subtype_diff is its own
# PL/pgSQL function registers the table and loads a few hundred records.
# Autovacuum then analyzes the key state on its own, with no further action;
# ANALYZE runs as the owner of the table it analyzes, so the key state must
# belong to the registered table's owner: the function must run as the
# attacker, never as the extension's owner (a superuser), and the attacker
# must not end up a superuser.  The function notes the role it runs as, and
# makes the attacker a superuser whenever it runs as anyone else.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('autovacuum');
$node->init;
$node->append_conf('postgresql.conf', qq{
autovacuum_naptime = 1s
autovacuum_analyze_threshold = 50
autovacuum_vacuum_threshold = 50
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_sequenced;
CREATE ROLE attacker LOGIN;
CREATE SCHEMA att AUTHORIZATION attacker;
CREATE TABLE public.attack_log (who name, what text);
GRANT INSERT ON public.attack_log TO PUBLIC;
});

$node->safe_psql('postgres', q{
SET ROLE attacker;
CREATE FUNCTION att.note(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.attack_log VALUES (current_user, what);
    IF current_user <> 'attacker' THEN
        ALTER ROLE attacker SUPERUSER;
    END IF;
END $$;
CREATE FUNCTION att.diff(a int4, b int4) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM att.note('subtype_diff'); RETURN a - b; END $$;
CREATE TYPE att.r AS RANGE (subtype = int4, subtype_diff = att.diff);
CREATE TABLE att.t (k att.r PRIMARY KEY, v att.r);
SELECT sequenced_register('att.t');
});

# The state table, and no analyze of it so far
my $state = $node->safe_psql('postgres',
	q{SELECT state_rel::oid FROM _sequenced.config WHERE relid = 'att.t'::regclass});
ok($state > 0, 'the table has a key state');

# A few hundred records through the functions, in several transactions,
# and deletes of half of them: their tombstones are rows of the key state
# (a live key is its row alone)
for my $i (0 .. 4)
{
	$node->safe_psql('postgres', qq{
SET ROLE attacker;
SELECT count(*) FROM sequenced_upsert('att.t',
  (SELECT jsonb_agg(jsonb_build_object('k', format('[%s,%s)', g, g + 1), 'v', format('[%s,%s)', g, g + 5)))
     FROM generate_series($i * 200 + 1, $i * 200 + 200) g), 1);
SELECT count(*) FROM sequenced_delete('att.t',
  (SELECT jsonb_agg(jsonb_build_object('k', format('[%s,%s)', g, g + 1)))
     FROM generate_series($i * 200 + 1, $i * 200 + 100) g), 2);
});
}

# Autovacuum analyzes the key state (and the table) on its own
ok( $node->poll_query_until(
		'postgres',
		qq{SELECT coalesce(autoanalyze_count, 0) > 0 FROM pg_stat_all_tables WHERE relid = $state}),
	'autovacuum analyzed the key state');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT coalesce(autoanalyze_count, 0) > 0 FROM pg_stat_all_tables WHERE relid = 'att.t'::regclass}),
	'autovacuum analyzed the table');

is( $node->safe_psql('postgres',
		q{SELECT string_agg(DISTINCT who || ':' || what, ',') FROM public.attack_log}),
	'attacker:subtype_diff',
	'subtype_diff ran, and only ever as the attacker');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}),
	'f', 'the attacker is no superuser');

# A superuser's ANALYZE of the whole database, and VACUUM FULL (which
# rebuilds the key state's indexes): still the attacker's rights only
$node->safe_psql('postgres', q{ANALYZE; VACUUM FULL;});
is( $node->safe_psql('postgres',
		q{SELECT string_agg(DISTINCT who, ',') FROM public.attack_log}),
	'attacker', 'ANALYZE and VACUUM FULL by a superuser: still only as the attacker');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}),
	'f', 'the attacker is still no superuser');

$node->stop;
done_testing();
