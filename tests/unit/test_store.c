/*
 * test_store.c - unit tests for rd-frontend/store.c against ":memory:" and a
 * temporary file: insert/update/delete/load round trips every column
 * (attributes, repeated ones included, links, route peer, absolute
 * expiry), ids are never reused after a delete (AUTOINCREMENT),
 * transactions commit and roll back, and a reopened file gives back the
 * same rows. Port hosting: the port column round-trips, the quarantine
 * table sets, replaces, clears and loads, and a database made before port
 * hosting (no port column) is migrated at open with its rows intact.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db_util.h"
#include "frontend.h"

static struct rd_reg *make_reg(const char *ep, const char *d, uint64_t expires)
{
    struct rd_reg *r = reg_new();
    char err[64];
    const char *links = "</temp>;rt=temperature;if=sensor,</light>;ct=0";

    assert_non_null(r);
    assert_int_equal(reg_set_names(r, ep, NULL, NULL, NULL), 0);
    assert_int_equal(reg_set_names(r, NULL, d, NULL, NULL), 0);
    assert_int_equal(reg_set_names(r, NULL, NULL, "coap://192.0.2.1:5683", NULL), 0);
    r->lt = 100;
    r->expires_at = expires;
    assert_int_equal(reg_set_links(r, links, strlen(links), err, sizeof(err)), 0);
    assert_int_equal(reg_set_attr(r, "et", "tag:example.com,2020:platform", true), 0);
    assert_int_equal(reg_set_attr(r, "flag", "", false), 0);
    assert_int_equal(reg_set_attr(r, "quoted", "a \"b\" c", true), 0);
    assert_int_equal(reg_add_attr(r, "et", "c.d", true), 0); /* repeated: RFC 9176 §9.3.1 */
    struct rr_peer p;
    memset(&p, 0, sizeof(p));
    p.transport = RR_TRANSPORT_UDP;
    snprintf(p.relay, sizeof(p.relay), "udp");
    assert_int_equal(addr_parse(&p.remote, "[2001:db8::7]:61616", 0), 0);
    assert_int_equal(addr_parse(&p.local, "192.0.2.10:5683", 0), 0);
    assert_int_equal(cpeer_pack(&r->peer, &p), 0);
    return r;
}

struct loaded {
    struct rd_reg *r[16];
    int n;
};

static int collect(struct rd_reg *r, void *arg)
{
    struct loaded *l = arg;

    assert_true(l->n < 16);
    l->r[l->n++] = r;
    return 0;
}

static void free_loaded(struct loaded *l)
{
    for (int i = 0; i < l->n; i++)
        reg_free(l->r[i]);
    l->n = 0;
}

static void test_insert_load_roundtrip(void **state)
{
    struct store *s;
    struct rd_reg *a = make_reg("alice", "", 1700000000123ull);
    struct rd_reg *b = make_reg("bob", "lab", 1800000000000ull);
    struct loaded l = {0};
    char buf[RR_ADDRSTRLEN];
    (void)state;

    b->proxy = RD_PROXY_ONDEMAND;
    assert_int_equal(reg_set_names(b, NULL, NULL, NULL, "bob.lab.proxy.localhost"), 0);
    b->ka = 0;
    b->base_explicit = true;
    b->peer.transport = RR_TRANSPORT_TCP;
    b->peer.conn_id = 42;
    assert_int_equal(store_open(":memory:", &s), 0);
    assert_int_equal(store_insert(s, a), 0);
    assert_int_equal(store_insert(s, b), 0);
    assert_int_equal(a->id, 1);
    assert_int_equal(b->id, 2);
    assert_int_equal(store_load(s, collect, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.r[0]->id, 1);
    assert_string_equal(l.r[0]->ep, "alice");
    assert_string_equal(l.r[0]->d, "");
    assert_true(l.r[0]->expires_at == 1700000000123ull);
    assert_int_equal(l.r[0]->lt, 100);
    assert_int_equal(l.r[0]->nlinks, 2);
    assert_string_equal(l.r[0]->links, a->links);
    assert_int_equal(l.r[0]->nattrs, 4);
    assert_string_equal(l.r[0]->attrs[0].name, "et");
    assert_string_equal(l.r[0]->attrs[0].value, "tag:example.com,2020:platform");
    assert_false(l.r[0]->attrs[1].has_value);
    assert_string_equal(l.r[0]->attrs[2].value, "a \"b\" c");
    /* a repeated attribute comes back as two values, in order */
    assert_string_equal(l.r[0]->attrs[3].name, "et");
    assert_string_equal(l.r[0]->attrs[3].value, "c.d");
    assert_int_equal(l.r[0]->ka, RR_KA_DEFAULT);
    struct rr_peer lp;
    cpeer_unpack(&l.r[0]->peer, &lp);
    assert_string_equal(addr_to_str(&lp.remote, buf, sizeof(buf)), "[2001:db8::7]:61616");
    assert_string_equal(addr_to_str(&lp.local, buf, sizeof(buf)), "192.0.2.10:5683");
    assert_string_equal(lp.relay, "udp");
    assert_int_equal(lp.transport, RR_TRANSPORT_UDP);
    assert_int_equal(l.r[1]->proxy, RD_PROXY_ONDEMAND);
    assert_string_equal(l.r[1]->host, "bob.lab.proxy.localhost");
    assert_int_equal(l.r[1]->ka, 0);
    assert_true(l.r[1]->base_explicit);
    assert_int_equal(l.r[1]->peer.transport, RR_TRANSPORT_TCP);
    assert_int_equal(l.r[1]->peer.conn_id, 42);
    free_loaded(&l);
    reg_free(a);
    reg_free(b);
    store_close(s);
}

static void test_update_delete_ids_not_reused(void **state)
{
    struct store *s;
    struct rd_reg *a = make_reg("a", "", 1), *b = make_reg("b", "", 2), *c = make_reg("c", "", 3);
    struct loaded l = {0};
    (void)state;

    assert_int_equal(store_open(":memory:", &s), 0);
    assert_int_equal(store_insert(s, a), 0);
    assert_int_equal(store_insert(s, b), 0);
    assert_int_equal(store_insert(s, c), 0);
    /* delete the newest: AUTOINCREMENT must not hand its id out again */
    assert_int_equal(store_delete(s, c->id), 0);
    reg_free(c);
    c = make_reg("c", "", 3);
    assert_int_equal(store_insert(s, c), 0);
    assert_int_equal(c->id, 4);
    /* update keeps the id and rewrites the columns */
    b->expires_at = 99999;
    assert_int_equal(reg_set_names(b, NULL, NULL, "coap://[2001:db8::1]", NULL), 0);
    assert_int_equal(store_update(s, b), 0);
    assert_int_equal(store_load(s, collect, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.r[1]->id, 2);
    assert_true(l.r[1]->expires_at == 99999);
    assert_string_equal(l.r[1]->base, "coap://[2001:db8::1]");
    assert_int_equal(l.r[2]->id, 4);
    free_loaded(&l);
    /* updating a row that is gone fails */
    c->id = 77;
    assert_int_equal(store_update(s, c), -1);
    /* (ep, d) is unique */
    struct rd_reg *dup = make_reg("a", "", 5);
    assert_int_equal(store_insert(s, dup), -1);
    reg_free(dup);
    reg_free(a);
    reg_free(b);
    reg_free(c);
    store_close(s);
}

static void test_transactions(void **state)
{
    struct store *s;
    struct rd_reg *a = make_reg("a", "", 1), *b = make_reg("b", "", 1);
    struct loaded l = {0};
    (void)state;

    assert_int_equal(store_open(":memory:", &s), 0);
    assert_int_equal(store_begin(s), 0);
    assert_true(store_in_tx(s));
    assert_int_equal(store_insert(s, a), 0);
    store_rollback(s);
    assert_false(store_in_tx(s));
    assert_int_equal(store_load(s, collect, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_insert(s, b), 0);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_load(s, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.r[0]->ep, "b");
    free_loaded(&l);
    reg_free(a);
    reg_free(b);
    store_close(s);
}

static void test_file_survives_reopen(void **state)
{
    char path[] = "/tmp/test_store_XXXXXX";
    int fd = mkstemp(path);
    struct store *s;
    struct rd_reg *a = make_reg("alice", "", 1234567890123ull);
    struct loaded l = {0};
    (void)state;

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(store_open(path, &s), 0);
    assert_int_equal(store_insert(s, a), 0);
    assert_int_equal(store_delete(s, a->id), 0);
    assert_int_equal(store_insert(s, a), 0);
    assert_int_equal(a->id, 2);
    store_close(s);
    assert_int_equal(store_open(path, &s), 0);
    assert_int_equal(store_load(s, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.r[0]->id, 2);
    assert_true(l.r[0]->expires_at == 1234567890123ull);
    free_loaded(&l);
    struct rd_reg *b = make_reg("bob", "", 1);
    assert_int_equal(store_insert(s, b), 0);
    assert_int_equal(b->id, 3); /* the sequence survived the reopen */
    reg_free(b);
    reg_free(a);
    store_close(s);
    rm_db(path);
}

struct qrow {
    uint16_t port[8];
    uint64_t until[8];
    int n;
};

static void collect_q(uint16_t port, uint64_t until, void *arg)
{
    struct qrow *q = arg;
    assert_true(q->n < 8);
    q->port[q->n] = port;
    q->until[q->n++] = until;
}

static void test_port_and_quarantine(void **state)
{
    struct store *s;
    struct rd_reg *a = make_reg("alice", "", 5);
    struct loaded l = {0};
    struct qrow q = {0};
    (void)state;

    assert_int_equal(store_open(":memory:", &s), 0);
    a->port = 5701;
    assert_int_equal(store_insert(s, a), 0);
    a->port = 5702;
    assert_int_equal(store_update(s, a), 0);
    assert_int_equal(store_load(s, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.r[0]->port, 5702);
    free_loaded(&l);

    assert_int_equal(store_port_quarantine(s, 5701, 1000), 0);
    assert_int_equal(store_port_quarantine(s, 5703, 2000), 0);
    assert_int_equal(store_port_quarantine(s, 5701, 3000), 0); /* replaces */
    assert_int_equal(store_port_clear(s, 5703), 0);
    assert_int_equal(store_load_quarantine(s, collect_q, &q), 0);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.port[0], 5701);
    assert_true(q.until[0] == 3000);
    reg_free(a);
    store_close(s);
}

static void test_migrate_old_schema(void **state)
{
    char path[] = "/tmp/test_store_XXXXXX";
    int fd = mkstemp(path);
    sqlite3 *db;
    struct store *s;
    struct loaded l = {0};
    (void)state;

    assert_true(fd >= 0);
    close(fd);
    /* the schema before port hosting, with one row */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE registrations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " ep TEXT NOT NULL, d TEXT NOT NULL, lt INTEGER NOT NULL,"
                     " expires_at INTEGER NOT NULL, base TEXT NOT NULL, base_explicit INTEGER "
                     "NOT NULL, attrs TEXT NOT NULL, links TEXT NOT NULL, proxy INTEGER NOT NULL,"
                     " host TEXT NOT NULL, transport INTEGER NOT NULL, relay TEXT NOT NULL,"
                     " remote TEXT NOT NULL, local TEXT NOT NULL, conn_id INTEGER NOT NULL,"
                     " ka INTEGER NOT NULL, UNIQUE (ep, d));"
                     "INSERT INTO registrations (ep, d, lt, expires_at, base, base_explicit,"
                     " attrs, links, proxy, host, transport, relay, remote, local, conn_id, ka)"
                     " VALUES ('old', '', 60, 99, 'coap://old.proxy.localhost', 0, '', '</a>',"
                     " 1, 'old.proxy.localhost', 1, 'udp', '192.0.2.1:5683', '', 0, 25);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(store_open(path, &s), 0);
    assert_int_equal(store_load(s, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.r[0]->ep, "old");
    assert_string_equal(l.r[0]->host, "old.proxy.localhost");
    assert_int_equal(l.r[0]->port, 0); /* migrated rows have no port */
    l.r[0]->port = 5701;
    assert_int_equal(store_update(s, l.r[0]), 0);
    free_loaded(&l);
    assert_int_equal(store_port_quarantine(s, 5705, 7), 0);
    store_close(s);

    /* reopened (already migrated): the port and the quarantine stayed */
    struct qrow q = {0};
    assert_int_equal(store_open(path, &s), 0);
    assert_int_equal(store_load(s, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.r[0]->port, 5701);
    free_loaded(&l);
    assert_int_equal(store_load_quarantine(s, collect_q, &q), 0);
    assert_int_equal(q.n, 1);
    store_close(s);
    rm_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_load_roundtrip),
        cmocka_unit_test(test_update_delete_ids_not_reused),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_file_survives_reopen),
        cmocka_unit_test(test_port_and_quarantine),
        cmocka_unit_test(test_migrate_old_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
