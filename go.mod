module github.com/icn-coop/icn

go 1.26

require (
	github.com/mr-tron/base58 v1.3.0
	github.com/shopspring/decimal v1.6.0
)
