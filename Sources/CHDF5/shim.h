#include <hdf5.h>

// HDF5's type and property-list "constants" are macros over globals that Swift cannot import
// (and that stay -1 until H5open()). These getters expand the macros in C.
static inline hid_t e3d_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t e3d_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t e3d_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t e3d_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t e3d_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t e3d_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t e3d_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t e3d_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t e3d_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t e3d_h5s_all(void) { return H5S_ALL; }
static inline unsigned e3d_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned e3d_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned e3d_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned e3d_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline size_t e3d_h5t_variable(void) { return H5T_VARIABLE; }

// Silences HDF5's own stderr error stack: errors are reported as Swift errors instead. Also turns
// off HDF5's atexit clean-up, which must be asked before any other HDF5 call: every file is closed
// (and checkpoints fsynced) by Swift before that point, and the clean-up itself printed "infinite
// loop closing library" at the exit of multi-threaded test runs.
static inline void e3d_h5_silence_errors(void) {
    static int done = 0;
    if (!done) { H5dont_atexit(); done = 1; }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}
