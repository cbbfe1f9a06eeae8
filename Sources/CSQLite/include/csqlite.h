// SQLite behind one door; the Swift module `Cluster` (its SQLiteDatabase) is the only caller.
#ifndef CSQLITE_H
#define CSQLITE_H

#include <sqlite3.h>

/// SQLITE_TRANSIENT is a macro over a cast Swift cannot import: SQLite copies the bound bytes.
void csqlite_bind_text_copy(sqlite3_stmt *stmt, int index, const char *text);

#endif
