/*
 * policy: smz-policy(5), one INI file that decides key algorithm, domains,
 * profiles and every other rule.  Unknown keys and bad values are a
 * configuration error naming the file, the line and the allowed values.
 */
#ifndef SMZ_POLICY_H
#define SMZ_POLICY_H

#include <stddef.h>
#include "err.h"

enum smz_alg { SMZ_ALG_RSA2048, SMZ_ALG_RSA3072, SMZ_ALG_RSA4096, SMZ_ALG_P256, SMZ_ALG_P384 };
enum smz_kdf { SMZ_KDF_INTERACTIVE, SMZ_KDF_MODERATE, SMZ_KDF_SENSITIVE };
/* [ca] name_constraints: how the issuing CA carries its domains (gpgsm refuses critical) */
enum smz_nc { SMZ_NC_CRITICAL, SMZ_NC_NONCRITICAL, SMZ_NC_NONE };
/* [smime] refuse: weak algorithms a gateway may refuse in mail it reads */
enum {
	SMZ_REFUSE_3DES = 1,
	SMZ_REFUSE_DES = 2,
	SMZ_REFUSE_RC2 = 4,
	SMZ_REFUSE_SHA1 = 8,
	SMZ_REFUSE_CBC = 16
};

#define SMZ_DOMAINS_MAX 64
#define SMZ_API_ALLOW_MAX 64

struct smz_policy {
	char source[1024]; /* file it came from, "" for built-in defaults */
	/* [vault] */
	char vault_path[1024];
	char attach_trust[1024]; /* anchors of other CAs whose certificates attach takes */
	enum smz_kdf kdf;
	int local_part_sensitive;
	int supersede; /* attaching a new key's certificate supersedes older keys */
	/* [ca] */
	char ca_path[1024], crl_url[1024], issuer_url[1024], ca_name[128];
	int crl_days, root_days, issuing_days;
	enum smz_alg root_alg, issuing_alg;
	enum smz_nc name_constraints;
	/* [keys] */
	enum smz_alg alg;
	int split; /* usage = split */
	/* [certificate] */
	char profile[32], organization[256], organization_identifier[128], country[3];
	int validity_days;
	/* [domains] allowed, lowercased A-labels; a leading '.' allows subdomains */
	char *domains[SMZ_DOMAINS_MAX];
	size_t ndomains;
	/* [renewal] */
	int window_days, reuse_key;
	/* [bundle] */
	char p12_profile[16];
	int mobileconfig;
	char imap_host[256], smtp_host[256]; /* mail payload of .mobileconfig */
	/* [ldap] */
	char ldap_uri[1024], ldap_base[1024], ldap_filter[256];
	int smime_attribute;
	/* [smime] */
	int rsa_transport;  /* 0 auto (OAEP when the certificate advertises it), 1 pkcs1, 2 oaep */
	int content_cipher; /* 0 auto (GCM when every recipient advertises it), 1 cbc, 2 gcm */
	char smime_trust[1024]; /* anchors for recipient and signer certificates; "": the CA's root */
	unsigned smime_refuse; /* SMZ_REFUSE_*: algorithms refused on decrypt and verify */
	/* [recovery] */
	int recovery_passphrase; /* smz-recover may unlock with the passphrase alone */
	/* [gateway] */
	char gateway_unlock_file[1024];
	/* [offboarding] */
	double max_fraction;
	/* [api]: smz-api(1) */
	char api_listen[256]; /* address to listen on, IPv4 or IPv6 */
	int api_port;	      /* 0: any free port */
	char api_cert[1024], api_key[1024], api_client_ca[1024];
	char api_crl[1024]; /* a CRL of the CA the signers and recipients chain to, or "" */
	/* who may call: "sha256:HEX" (lowercase, no colons) or "subject:DN" (RFC 4514) */
	char *api_allow[SMZ_API_ALLOW_MAX];
	size_t napi_allow;
	long long api_max_message; /* bytes */
	int api_max_connections, api_max_per_ip, api_timeout, api_threads;
};

/* Load path; NULL means $SMZ_POLICY, else /etc/smz/policy.conf, and a
 * missing default file gives the built-in defaults. */
int smz_policy_load(const char *path, struct smz_policy *p, struct smz_err *e);
void smz_policy_free(struct smz_policy *p);

const char *smz_alg_name(enum smz_alg a);
int smz_alg_parse(const char *s, enum smz_alg *a);

/* The index of v in the NULL-terminated list allowed, in *out; -1 if absent. */
int smz_choice(const char *v, const char *const *allowed, int *out);

/* Is the (normalised) domain allowed? */
int smz_policy_domain_allowed(const struct smz_policy *p, const char *domain);

#endif
