# The signature-enforcing test kernel (`harness/test-kernel.sh SERIES sig`),
# merged after config and config.SERIES: the kernel loads only modules that
# carry a valid signature by a key it trusts, as it does under Secure Boot
# (there through lockdown), and refuses every other module with EKEYREJECTED.
# The trusted key is the one the kernel build makes for this kernel
# (certs/signing_key.pem and .x509 in the tree: a key made for the test,
# built into the kernel's trusted keyring). harness/sign-test.sh signs the
# module with it through `make sign`.
CONFIG_MODULE_SIG=y
CONFIG_MODULE_SIG_FORCE=y
CONFIG_MODULE_SIG_SHA256=y
CONFIG_MODULE_SIG_KEY="certs/signing_key.pem"
CONFIG_MODULE_SIG_KEY_TYPE_RSA=y
