# The feed's watermark across databases and with prepared transactions
# (positions.c; the isolation spec iso_watermark covers one database).
#
#  - a transaction in another database, idle with a transaction id, does
#    not hold the feed back: a change committed meanwhile is read at once,
#    and sequenced_feed_status names no backend;
#  - a prepared transaction that applied records to the table does hold it
#    back until COMMIT PREPARED (its change is not handed out, nor one
#    committed after it), and sequenced_feed_status says since when, with
#    no backend (a prepared transaction has none); then both are read.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('watermark');
$node->init;
$node->append_conf('postgresql.conf', "max_prepared_transactions = 5\n");
$node->start;

$node->safe_psql('postgres', q{
CREATE DATABASE other;
CREATE EXTENSION pg_sequenced;
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT sequenced_register('t');
});
$node->safe_psql('other', q{CREATE TABLE busy (id int);});

sub feed
{
	return $node->safe_psql('postgres',
		q{SELECT string_agg(key->>'id' || '=' || (record->>'v'), ',' ORDER BY pos) FROM sequenced_changes('t')});
}

sub status
{
	return $node->safe_psql('postgres',
		q{SELECT (watermark > coalesce(last_position, 0))::text || '|' || coalesce(held_by_pid::text, 'none') || '|'
		         || (held_since IS NOT NULL)::text FROM sequenced_feed_status('t')});
}

# another database: idle in a transaction that has an id
my $idle = $node->background_psql('other');
$idle->query_safe('BEGIN; INSERT INTO busy VALUES (1); SELECT pg_current_xact_id();');

$node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_upsert('t', '{"id": 1, "v": "a"}', 10)});
is(feed(), '1=a', 'an idle transaction in another database does not hold the feed back');
is(status(), 'true|none|false', 'feed status: caught up, held by no backend');

# a prepared transaction that wrote this table holds it back
$node->safe_psql('postgres', q{
BEGIN;
SELECT count(*) FROM sequenced_upsert('t', '{"id": 2, "v": "b"}', 10);
PREPARE TRANSACTION 'wm';
});
$node->safe_psql('postgres', q{SELECT count(*) FROM sequenced_upsert('t', '{"id": 3, "v": "c"}', 10)});
is(feed(), '1=a', 'a prepared writer holds back its change and those committed after it');
is(status(), 'false|none|true', 'feed status: held back by a prepared transaction, since it was prepared');
$node->safe_psql('postgres', q{COMMIT PREPARED 'wm'});
is(feed(), '1=a,2=b,3=c', 'after COMMIT PREPARED every change is read, in position order');
is(status(), 'true|none|false', 'feed status: caught up again');

$idle->query_safe('COMMIT');
$idle->quit;
$node->stop;
done_testing();
