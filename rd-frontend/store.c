/*
 * store.c - the registrations' durable home: the ONLY file with SQL.
 * Owns the SQLite connection and its prepared statements (prepared once,
 * reused). Talks to nothing else; rd_request.c calls it before a response
 * leaves, main.c wraps each batch of requests in one transaction.
 *
 * Schema (WAL, synchronous=FULL: a commit is on disk when it returns):
 *
 *   CREATE TABLE registrations (
 *     id            INTEGER PRIMARY KEY AUTOINCREMENT, -- /reg/<id>, never reused
 *     ep            TEXT NOT NULL,       -- endpoint name as sent
 *     d             TEXT NOT NULL,       -- sector, '' = none
 *     lt            INTEGER NOT NULL,    -- lifetime, seconds
 *     expires_at    INTEGER NOT NULL,    -- absolute, unix ms
 *     base          TEXT NOT NULL,       -- effective base URI
 *     base_explicit INTEGER NOT NULL,    -- 1 = given by base=
 *     attrs         TEXT NOT NULL,       -- extra attributes as ";name=value;flag"
 *                                        --   (a repeated name once per value)
 *     links         TEXT NOT NULL,       -- the registered link-format payload
 *     proxy         INTEGER NOT NULL,    -- 0 none, 1 yes, 2 ondemand
 *     host          TEXT NOT NULL,       -- proxy host name, '' when not proxied
 *     transport     INTEGER NOT NULL,    -- route/peer: enum rr_transport
 *     relay         TEXT NOT NULL,       --   relay name ("udp", ...)
 *     remote        TEXT NOT NULL,       --   peer address "a:p" / "[v6]:p"
 *     local         TEXT NOT NULL,       --   our address it was sent to
 *     conn_id       INTEGER NOT NULL,    --   TCP/WS connection, 0 for UDP
 *     ka            INTEGER NOT NULL,    --   keepalive s (4294967295 = default)
 *     port          INTEGER NOT NULL DEFAULT 0, -- port-based hosting port, 0 = none
 *     UNIQUE (ep, d));
 *
 *   CREATE TABLE port_quarantine (     -- released hosting ports (ports.c)
 *     port  INTEGER PRIMARY KEY,
 *     until INTEGER NOT NULL);         -- unix ms: no other endpoint before
 *
 *   CREATE TABLE relay_drain (         -- rdrelayctl drain (ctl_cmd.c)
 *     relay TEXT PRIMARY KEY);         -- a relay name: no new registrations
 *
 * Migration: a database from before port hosting has no port column; it
 * is added at open (ALTER TABLE ... ADD COLUMN, every row 0).
 *
 * Rows whose grace period is over are deleted by rd_request.c's tick; the
 * AUTOINCREMENT counter (sqlite_sequence) guarantees the path is never handed
 * out again.
 *
 * Checkpoints: SQLite would copy the WAL into the database inside a COMMIT
 * every 1,000 pages (milliseconds on the loop, p99 8 ms of a batch commit at
 * 100,000 registrations). With a database file, a checkpointer thread does
 * it instead on its own connection (PASSIVE: it never blocks the writer),
 * woken by the WAL hook when the WAL passes STORE_CKPT_FRAMES; the loop's
 * connection has wal_autocheckpoint=0. Durability does not depend on it:
 * every COMMIT has fsynced the WAL. The thread touches nothing but its
 * connection and the wake-up flags.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "frontend.h"
#include "log.h"

enum {
    ST_INSERT,
    ST_UPDATE,
    ST_DELETE,
    ST_LOAD,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PQ_SET,
    ST_PQ_CLEAR,
    ST_PQ_LOAD,
    ST_DRAIN_SET,
    ST_DRAIN_CLEAR,
    ST_DRAIN_LOAD,
    ST_COUNT
};

#define STORE_CKPT_FRAMES 1000

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    bool in_tx;
    sqlite3_int64 changes_at_begin; /* total changes at BEGIN: store_tx_writes */
    /* checkpointer thread (file databases only) */
    bool ckpt_on;
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    bool ckpt_wanted, ckpt_stop;
};

static const char *schema_sql =
    "CREATE TABLE IF NOT EXISTS registrations ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " ep TEXT NOT NULL, d TEXT NOT NULL, lt INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL, base TEXT NOT NULL, base_explicit INTEGER NOT NULL,"
    " attrs TEXT NOT NULL, links TEXT NOT NULL, proxy INTEGER NOT NULL,"
    " host TEXT NOT NULL, transport INTEGER NOT NULL, relay TEXT NOT NULL,"
    " remote TEXT NOT NULL, local TEXT NOT NULL, conn_id INTEGER NOT NULL,"
    " ka INTEGER NOT NULL, port INTEGER NOT NULL DEFAULT 0, UNIQUE (ep, d));"
    "CREATE TABLE IF NOT EXISTS port_quarantine ("
    " port INTEGER PRIMARY KEY, until INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS relay_drain (relay TEXT PRIMARY KEY);";

#define COLS                                                                                       \
    "ep, d, lt, expires_at, base, base_explicit, attrs, links, proxy, host, transport, relay, "    \
    "remote, local, conn_id, ka, port"

static const char *stmt_sql[ST_COUNT] = {
    [ST_INSERT] = "INSERT INTO registrations (" COLS
                  ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)",
    [ST_UPDATE] = "UPDATE registrations SET ep=?1, d=?2, lt=?3, expires_at=?4, base=?5,"
                  " base_explicit=?6, attrs=?7, links=?8, proxy=?9, host=?10, transport=?11,"
                  " relay=?12, remote=?13, local=?14, conn_id=?15, ka=?16, port=?17 WHERE id=?18",
    [ST_DELETE] = "DELETE FROM registrations WHERE id=?1",
    [ST_LOAD] = "SELECT id, " COLS " FROM registrations ORDER BY id",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PQ_SET] = "INSERT OR REPLACE INTO port_quarantine (port, until) VALUES (?1, ?2)",
    [ST_PQ_CLEAR] = "DELETE FROM port_quarantine WHERE port=?1",
    [ST_PQ_LOAD] = "SELECT port, until FROM port_quarantine",
    [ST_DRAIN_SET] = "INSERT OR IGNORE INTO relay_drain (relay) VALUES (?1)",
    [ST_DRAIN_CLEAR] = "DELETE FROM relay_drain WHERE relay=?1",
    [ST_DRAIN_LOAD] = "SELECT relay FROM relay_drain",
};

/* Databases made before port hosting: add registrations.port. 0 / -1. */
static int migrate(sqlite3 *db, char **err)
{
    sqlite3_stmt *st;
    bool has_port = false;

    if (sqlite3_prepare_v2(db, "PRAGMA table_info(registrations)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 1);
        if (name && strcmp((const char *)name, "port") == 0)
            has_port = true;
    }
    sqlite3_finalize(st);
    if (has_port)
        return 0;
    log_info("store: migrating: adding registrations.port (port-based hosting)");
    return sqlite3_exec(db, "ALTER TABLE registrations ADD COLUMN port INTEGER NOT NULL DEFAULT 0",
                        NULL, NULL, err) == SQLITE_OK
               ? 0
               : -1;
}

static int exec_simple(struct store *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        log_warnx("store: %s: %s", stmt_sql[which], sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct store *s = arg;

    (void)db;
    (void)name;
    if (frames >= STORE_CKPT_FRAMES) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_wanted = true;
        pthread_cond_signal(&s->ckpt_cv);
        pthread_mutex_unlock(&s->ckpt_mu);
    }
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    struct store *s = arg;

    for (;;) {
        pthread_mutex_lock(&s->ckpt_mu);
        while (!s->ckpt_wanted && !s->ckpt_stop)
            pthread_cond_wait(&s->ckpt_cv, &s->ckpt_mu);
        bool stop = s->ckpt_stop;
        s->ckpt_wanted = false;
        pthread_mutex_unlock(&s->ckpt_mu);
        if (stop)
            break;
        /* PASSIVE: as far as readers and the writer allow, never waiting */
        sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    return NULL;
}

/* Start the checkpointer; on any failure SQLite's own checkpoints stay on. */
static void ckpt_start(struct store *s, const char *path)
{
    if (strcmp(path, ":memory:") == 0 || path[0] == '\0')
        return;
    if (sqlite3_open_v2(path, &s->ckpt_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(s->ckpt_db, "PRAGMA synchronous=FULL;", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (pthread_mutex_init(&s->ckpt_mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&s->ckpt_cv, NULL) != 0) {
        pthread_mutex_destroy(&s->ckpt_mu);
        goto fail;
    }
    if (fe_thread_start(&s->ckpt_thread, ckpt_main, s) != 0) {
        pthread_cond_destroy(&s->ckpt_cv);
        pthread_mutex_destroy(&s->ckpt_mu);
        goto fail;
    }
    s->ckpt_on = true;
    sqlite3_wal_hook(s->db, wal_hook, s); /* replaces SQLite's autocheckpoint */
    return;
fail:
    log_warnx("store: no checkpointer thread; SQLite checkpoints inside commits");
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
}

static void ckpt_stop(struct store *s)
{
    if (!s->ckpt_on)
        return;
    sqlite3_wal_hook(s->db, NULL, NULL);
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = true;
    pthread_cond_signal(&s->ckpt_cv);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->ckpt_thread, NULL);
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_mutex_destroy(&s->ckpt_mu);
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
    s->ckpt_on = false;
}

int store_open(const char *path, struct store **out)
{
    struct store *s = calloc(1, sizeof(*s));
    char *err = NULL;

    if (s == NULL)
        return -1;
    if (sqlite3_open(path, &s->db) != SQLITE_OK) {
        log_warnx("store: open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL + FULL: every commit is durable before we acknowledge anything. */
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     &err) != SQLITE_OK ||
        sqlite3_exec(s->db, schema_sql, NULL, NULL, &err) != SQLITE_OK ||
        migrate(s->db, &err) < 0) {
        log_warnx("store: %s: %s", path, err ? err : "?");
        sqlite3_free(err);
        goto fail;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v2(s->db, stmt_sql[i], -1, &s->st[i], NULL) != SQLITE_OK) {
            log_warnx("store: prepare: %s", sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    ckpt_start(s, path);
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    ckpt_stop(s);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

int store_begin(struct store *s)
{
    if (s->in_tx)
        return 0;
    if (exec_simple(s, ST_BEGIN) < 0)
        return -1;
    s->in_tx = true;
    s->changes_at_begin = sqlite3_total_changes64(s->db);
    return 0;
}

int store_commit(struct store *s)
{
    if (!s->in_tx)
        return 0;
    s->in_tx = false;
    return exec_simple(s, ST_COMMIT);
}

void store_rollback(struct store *s)
{
    if (!s->in_tx)
        return;
    s->in_tx = false;
    exec_simple(s, ST_ROLLBACK);
}

bool store_in_tx(const struct store *s)
{
    return s->in_tx;
}

bool store_tx_writes(const struct store *s)
{
    /* BEGIN IMMEDIATE holds the write lock from the start: count rows instead */
    return s->in_tx && sqlite3_total_changes64(s->db) != s->changes_at_begin;
}

static void addr_text(const struct rr_addr *a, char *buf, size_t len)
{
    if (a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6)
        buf[0] = '\0';
    else
        addr_to_str(a, buf, len);
}

/* Bind the 17 shared columns; attrs text is owned by the caller's strbuf. */
static int bind_cols(sqlite3_stmt *st, const struct rd_reg *r, struct strbuf *attrs, char *remote,
                     char *local, size_t alen)
{
    int rc = 0;

    sb_reset(attrs);
    reg_attrs_to_text(r, attrs);
    if (attrs->oom)
        return -1;
    struct rr_addr ra = cpeer_addr(&r->peer.remote), la = cpeer_addr(&r->peer.local);
    addr_text(&ra, remote, alen);
    addr_text(&la, local, alen);
    rc |= sqlite3_bind_text(st, 1, r->ep, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(st, 2, r->d, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int64(st, 3, r->lt);
    rc |= sqlite3_bind_int64(st, 4, (sqlite3_int64)r->expires_at);
    rc |= sqlite3_bind_text(st, 5, r->base, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int(st, 6, r->base_explicit);
    rc |= sqlite3_bind_text(st, 7, attrs->buf ? attrs->buf : "", -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(st, 8, r->links ? r->links : "", (int)r->links_len, SQLITE_STATIC);
    rc |= sqlite3_bind_int(st, 9, r->proxy);
    rc |= sqlite3_bind_text(st, 10, r->host, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int(st, 11, r->peer.transport);
    rc |= sqlite3_bind_text(st, 12, proto_relay_name(r->peer.relay), -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(st, 13, remote, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(st, 14, local, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int64(st, 15, (sqlite3_int64)r->peer.conn_id);
    rc |= sqlite3_bind_int64(st, 16, r->ka);
    rc |= sqlite3_bind_int(st, 17, r->port);
    return rc == SQLITE_OK ? 0 : -1;
}

static int write_row(struct store *s, int which, struct rd_reg *r)
{
    sqlite3_stmt *st = s->st[which];
    struct strbuf attrs;
    char remote[RR_ADDRSTRLEN], local[RR_ADDRSTRLEN];
    int ret = -1;

    sb_init(&attrs);
    if (bind_cols(st, r, &attrs, remote, local, sizeof(remote)) < 0)
        goto out;
    if (which == ST_UPDATE && sqlite3_bind_int64(st, 18, r->id) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) != SQLITE_DONE) {
        log_warnx("store: write ep=%s: %s", r->ep, sqlite3_errmsg(s->db));
        goto out;
    }
    if (which == ST_INSERT)
        r->id = sqlite3_last_insert_rowid(s->db);
    else if (sqlite3_changes(s->db) != 1)
        goto out;
    ret = 0;
out:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sb_free(&attrs);
    return ret;
}

int store_insert(struct store *s, struct rd_reg *r)
{
    return write_row(s, ST_INSERT, r);
}

int store_update(struct store *s, const struct rd_reg *r)
{
    /* write_row only writes r->id on insert */
    return write_row(s, ST_UPDATE, (struct rd_reg *)r);
}

int store_delete(struct store *s, int64_t id)
{
    sqlite3_stmt *st = s->st[ST_DELETE];
    int ret = 0;

    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        log_warnx("store: delete %lld: %s", (long long)id, sqlite3_errmsg(s->db));
        ret = -1;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static void col_str(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static struct rd_reg *row_to_reg(sqlite3_stmt *st)
{
    struct rd_reg *r = reg_new();
    char tmp[RR_ADDRSTRLEN], err[128];
    char ep[RR_EP_MAX], d[RR_EP_MAX], base[RD_BASE_MAX], host[RR_HOST_MAX];
    const unsigned char *t;

    if (r == NULL)
        return NULL;
    r->id = sqlite3_column_int64(st, 0);
    col_str(st, 1, ep, sizeof(ep));
    col_str(st, 2, d, sizeof(d));
    r->lt = (uint32_t)sqlite3_column_int64(st, 3);
    r->expires_at = (uint64_t)sqlite3_column_int64(st, 4);
    col_str(st, 5, base, sizeof(base));
    r->base_explicit = sqlite3_column_int(st, 6) != 0;
    t = sqlite3_column_text(st, 7);
    if (reg_attrs_from_text(r, t ? (const char *)t : "") < 0)
        log_warnx("store: registration %lld: unreadable attributes dropped", (long long)r->id);
    t = sqlite3_column_text(st, 8);
    if (reg_set_links(r, t ? (const char *)t : "", (size_t)sqlite3_column_bytes(st, 8), err,
                      sizeof(err)) < 0)
        log_warnx("store: registration %lld: links: %s", (long long)r->id, err);
    r->proxy = (uint8_t)sqlite3_column_int(st, 9);
    col_str(st, 10, host, sizeof(host));
    if (reg_set_names(r, ep, d, base, host) < 0) {
        reg_free(r);
        return NULL;
    }
    struct rr_peer peer;
    memset(&peer, 0, sizeof(peer));
    peer.transport = (uint8_t)sqlite3_column_int(st, 11);
    col_str(st, 12, peer.relay, sizeof(peer.relay));
    col_str(st, 13, tmp, sizeof(tmp));
    if (tmp[0] == '\0' || addr_parse(&peer.remote, tmp, 0) < 0)
        memset(&peer.remote, 0, sizeof(peer.remote));
    col_str(st, 14, tmp, sizeof(tmp));
    if (tmp[0] == '\0' || addr_parse(&peer.local, tmp, 0) < 0)
        memset(&peer.local, 0, sizeof(peer.local));
    peer.conn_id = (uint64_t)sqlite3_column_int64(st, 15);
    if (cpeer_pack(&r->peer, &peer) < 0) {
        reg_free(r);
        return NULL;
    }
    r->ka = (uint32_t)sqlite3_column_int64(st, 16);
    r->port = (uint16_t)sqlite3_column_int(st, 17);
    return r;
}

int store_load(struct store *s, int (*fn)(struct rd_reg *r, void *arg), void *arg)
{
    sqlite3_stmt *st = s->st[ST_LOAD];
    int rc, ret = -1;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct rd_reg *r = row_to_reg(st);

        if (r == NULL || fn(r, arg) < 0)
            goto out;
    }
    if (rc != SQLITE_DONE) {
        log_warnx("store: load: %s", sqlite3_errmsg(s->db));
        goto out;
    }
    ret = 0;
out:
    sqlite3_reset(st);
    return ret;
}

/* Step a statement whose values are bound once, then reset it; what names
 * it in the log. 0 / -1. */
static int step_once(struct store *s, sqlite3_stmt *st, const char *what)
{
    int ret = 0;

    if (sqlite3_step(st) != SQLITE_DONE) {
        log_warnx("store: %s: %s", what, sqlite3_errmsg(s->db));
        ret = -1;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/* One statement with a port (and maybe a time) bound, stepped once. */
static int pq_exec(struct store *s, int which, uint16_t port, uint64_t until)
{
    sqlite3_stmt *st = s->st[which];

    sqlite3_bind_int(st, 1, port);
    if (which == ST_PQ_SET)
        sqlite3_bind_int64(st, 2, (sqlite3_int64)until);
    return step_once(s, st, "hosting port");
}

int store_port_quarantine(struct store *s, uint16_t port, uint64_t until)
{
    return pq_exec(s, ST_PQ_SET, port, until);
}

int store_port_clear(struct store *s, uint16_t port)
{
    return pq_exec(s, ST_PQ_CLEAR, port, 0);
}

int store_load_quarantine(struct store *s, void (*fn)(uint16_t port, uint64_t until, void *arg),
                          void *arg)
{
    sqlite3_stmt *st = s->st[ST_PQ_LOAD];
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn((uint16_t)sqlite3_column_int(st, 0), (uint64_t)sqlite3_column_int64(st, 1), arg);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        log_warnx("store: load port_quarantine: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

int store_drain(struct store *s, const char *relay, bool on)
{
    sqlite3_stmt *st = s->st[on ? ST_DRAIN_SET : ST_DRAIN_CLEAR];

    sqlite3_bind_text(st, 1, relay, -1, SQLITE_STATIC);
    return step_once(s, st, "relay_drain");
}

int store_load_drains(struct store *s, void (*fn)(const char *relay, void *arg), void *arg)
{
    sqlite3_stmt *st = s->st[ST_DRAIN_LOAD];
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (t)
            fn((const char *)t, arg);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        log_warnx("store: load relay_drain: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}
