/* Registry snippets for tests that load a config from memory:
 * the broker section and one YAML list item per sample department, with
 * the public keys of config/examples/govbus.yaml (no secret halves exist
 * anywhere). Concatenate them as string literals:
 *     GB_TEST_BROKER_YAML "departments:\n" GB_TEST_DEPT_TAX ...          */
#ifndef GB_TEST_DEPARTMENTS_H
#define GB_TEST_DEPARTMENTS_H

#define GB_TEST_BROKER_YAML                                                  \
	"broker: { listen: \"tcp://127.0.0.1:7780\", data_dir: ./data,"      \
	" key: keys/broker.key }\n"

#define GB_TEST_DEPT_TAX                                                     \
	"  - { id: tax, name: Tax Bureau,\n"                                 \
	"      sign_key: \"In5nRBnAFQS1duONSmNF0ov0Q7Sv2TedaT41dPqlgD4=\",\n" \
	"      box_key: \"RGjsr:u^gn!&X[?>nP3}u5W0y]xPX<wg6Q)UzN3F\" }\n"
#define GB_TEST_DEPT_HEALTH                                                  \
	"  - { id: health, name: Ministry of Health,\n"                      \
	"      sign_key: \"f6dwkcohKBcWP5lsnyHPi21SxS6Sk6109JENV8ny5uU=\",\n" \
	"      box_key: \"{{RgjF)tBSne$Hfzg6ejXzu5X&eHH}0{]n>e[mBc\" }\n"
#define GB_TEST_DEPT_SOCIAL                                                  \
	"  - { id: social, name: Social Security Agency,\n"                  \
	"      sign_key: \"t+6OT5i++bIE4+TmiXQkrhzTR2B0U0sokOcicmyKsvo=\",\n" \
	"      box_key: \")H%R9yaTZvyt)B!Swk]iTPlG32qUtF<btG[=fpc*\" }\n"
#define GB_TEST_DEPT_MARKET                                                  \
	"  - { id: market, name: Market Regulation Authority,\n"             \
	"      sign_key: \"KyGW5DKevEoCqLsczR7e5zCgXMrJ4073jidnXX3WVXk=\",\n" \
	"      box_key: \"dJn=*A*92dSTcE+F}X<J/4g)!wn]T05)eZ4pPtoo\" }\n"
#define GB_TEST_DEPT_AUDIT                                                   \
	"  - { id: audit, name: National Audit Office, role: auditor,\n"     \
	"      sign_key: \"6HTPTldKqYnHq+Rp9NTHc3gxm5qPOSdKyKBdiiPKzCY=\",\n" \
	"      box_key: \"1XVfo4&<FKN/tPb3x=Z+ze*]SMVHhWk41Pm@vcr1\" }\n"

#endif
