/*
 * committer.c - runs a batch's COMMIT (the WAL fsync) in a thread of its
 * own, so the loop in main.c keeps answering read-only requests (lookups,
 * GET of a registration, discovery) from memory while the fsync runs.
 * Owns: the thread, its mutex/condition and an eventfd that becomes
 * readable when a commit is done (main.c polls it beside the ROUTER).
 * Also fe_thread_start, which store.c's checkpointer uses too.
 * Talks to: store.c (store_commit, on the loop's connection: the loop does
 * not touch the store while a commit is in flight), main.c.
 * Durability is unchanged: main.c sends a batch's outbox (the answers to
 * changes, route updates, notifications) only after committer_done
 * reported the COMMIT succeeded.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "frontend.h"
#include "log.h"

static void *committer_main(void *arg)
{
    struct committer *c = arg;
    uint64_t one = 1;

    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->want && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        bool stop = c->stop;
        c->want = false;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        int rc = store_commit(c->store);
        pthread_mutex_lock(&c->mu);
        c->rc = rc;
        pthread_mutex_unlock(&c->mu);
        /* an eventfd write of 1 cannot fail short of a bug */
        if (write(c->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
            log_warn("committer: eventfd write");
    }
    return NULL;
}

int fe_thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    int rc;

    /* signals stay with the main thread (its handlers only set flags) */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(th, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int committer_start(struct committer *c, struct store *s)
{
    c->store = s;
    c->on = false;
    if ((c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        goto fail;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        goto fail_fd;
    if (pthread_cond_init(&c->cv, NULL) != 0)
        goto fail_mu;
    if (fe_thread_start(&c->th, committer_main, c) != 0)
        goto fail_cv;
    c->on = true;
    return 0;
fail_cv:
    pthread_cond_destroy(&c->cv);
fail_mu:
    pthread_mutex_destroy(&c->mu);
fail_fd:
    close(c->efd);
fail:
    c->efd = -1;
    log_warnx("committer: no thread; commits run in the loop");
    return -1;
}

void committer_kick(struct committer *c)
{
    pthread_mutex_lock(&c->mu);
    c->want = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int committer_done(struct committer *c, bool *done)
{
    uint64_t n;
    int rc;

    *done = false;
    if (read(c->efd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return errno == EAGAIN ? 0 : -1;
    *done = true;
    pthread_mutex_lock(&c->mu);
    rc = c->rc;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void committer_stop(struct committer *c)
{
    if (!c->on)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->th, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    close(c->efd);
    c->efd = -1;
    c->on = false;
}
