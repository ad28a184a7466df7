// The C APIs that Swift's Glibc module does not export: epoll, eventfd, timerfd,
// getrandom, libcrypt (yescrypt) and SQLite (with its session extension).
#ifndef RELAY_CSYSTEM_SHIM_H
#define RELAY_CSYSTEM_SHIM_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <signal.h>
#include <crypt.h>
// The preupdate hook records the replication log's row changes; the session extension is the
// tests' oracle for them (docs/REPLICATION.md "The log carries row changes"). Debian's system
// SQLite is built with both, but its header declares them only when these are defined.
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro casting -1 to a function pointer; Swift cannot import it.
static inline sqlite3_destructor_type relay_sqlite_transient(void) { return SQLITE_TRANSIENT; }
#endif
