#include "csqlite.h"

void csqlite_bind_text_copy(sqlite3_stmt *stmt, int index, const char *text) {
    sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
}
