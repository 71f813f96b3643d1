/*
 * db_util.h - what the unit tests that use SQLite files share: removing a
 * test database with its WAL side files. Header-only, test code only.
 */
#ifndef RDRELAY_TEST_DB_UTIL_H
#define RDRELAY_TEST_DB_UTIL_H

#include <stdio.h>
#include <unistd.h>

static inline void rm_db(const char *path)
{
    char side[64];

    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

#endif
