/*
 * statedir.c - the state directory's permissions (statedir.h).
 * Owns nothing; talks to the file system. Every process that binds an ipc
 * socket under state_dir calls statedir_prepare first: ZeroMQ creates the
 * socket file with the process umask, and a socket file's mode is the
 * only gate for a local user on the same host.
 */
#include "statedir.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "log.h"

int statedir_prepare(const char *dir)
{
    struct stat st;

    umask(077);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        log_warn("state_dir %s", dir);
        return -1;
    }
    if (stat(dir, &st) < 0) {
        log_warn("state_dir %s", dir);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        log_warn("state_dir %s", dir);
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        if (chmod(dir, st.st_mode & 0700) < 0) {
            log_warn("state_dir %s: cannot restrict it to its owner", dir);
            return -1;
        }
        log_info("state_dir %s: group and other access removed (mode now %03o)", dir,
                 (unsigned)(st.st_mode & 0700));
    }
    return 0;
}

int statedir_secure_ipc(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) != 0 || endpoint[6] == '@') /* '@': abstract, no file */
        return 0;
    if (chmod(endpoint + 6, 0600) < 0) {
        log_warn("chmod 0600 %s", endpoint + 6);
        return -1;
    }
    return 0;
}
