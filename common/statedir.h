/*
 * statedir.h - the state directory (SQLite store, control and route
 * sockets) is the operator's alone: whoever can connect to the control
 * socket (ctl_endpoint) can read every registration and talk to the
 * relays as rd-frontend would.
 */
#ifndef RDRELAY_STATEDIR_H
#define RDRELAY_STATEDIR_H

/* Set the umask to 077 (every file and ipc socket this process creates is
 * 0600, directories 0700), create dir 0700 if missing, and take group and
 * other access away from an existing one. 0, or -1 with errno (logged). */
int statedir_prepare(const char *dir);

/* After zmq_bind of an "ipc://PATH" endpoint: PATH 0600 (the umask leaves
 * a socket 0700; connecting needs only write, but nobody else gets any
 * bit). Other transports: nothing. 0, or -1 logged. */
int statedir_secure_ipc(const char *endpoint);

#endif
