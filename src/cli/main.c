/* main.c: the warren program. */
#include "warren.h"

int main(int argc, char **argv)
{
    return warren_main(argc, argv);
}
