// liblz4 (Debian liblz4-dev): the LZ4 frame API, used for checkpoint files that the stock `lz4` tool reads.
#include <lz4.h>
#include <lz4frame.h>
