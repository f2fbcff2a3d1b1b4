#ifndef E3D_CPOSTGRES_SHIM_H
#define E3D_CPOSTGRES_SHIM_H
#include <libpq-fe.h>
#endif
