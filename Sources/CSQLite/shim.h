// SQLite 3 (Debian libsqlite3-dev): the state database of a virtualchain.
#include <sqlite3.h>
