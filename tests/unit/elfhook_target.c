/* A shared object whose call to getppid goes through its own GOT; built
 * twice, with full RELRO (-z now) and with lazy binding (partial RELRO),
 * for test_elfhook. TARGET names the exported function. */
#include <unistd.h>

__attribute__((visibility("default"))) int
TARGET(void)
{
    return (int)getppid();
}
