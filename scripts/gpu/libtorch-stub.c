/* Stand-ins for the few libtorch symbols that the tch-free `cuda_bgmv` bench binary still
   references through torch-sys's wrapper objects but never calls (scripts/gpu/bundle checks the
   list is complete). They let it load on a GPU machine without this project's libtorch. A call
   would abort. */
#include <stdlib.h>

/* c10::UndefinedTensorImpl::_singleton (data; 176 bytes in libtorch 2.13) */
char _ZN3c1019UndefinedTensorImpl10_singletonE[512];

#define NEVER_CALLED(name) \
    void name(void) { abort(); }
NEVER_CALLED(_ZN3c106detail23torchInternalAssertFailEPKcS2_jS2_RKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE)
NEVER_CALLED(_ZN3c106detail23torchInternalAssertFailEPKcS2_jS2_S2_)
NEVER_CALLED(_ZN5torch3jit6tracer12TracingStateD1Ev)
NEVER_CALLED(_ZNK3c106IValue10isBoolListEv)
NEVER_CALLED(_ZNK3c106IValue12isDoubleListEv)
NEVER_CALLED(_ZNK3c106IValue12isTensorListEv)
NEVER_CALLED(_ZNK3c106IValue9isIntListEv)
