// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

// Testing / scripting
import {Script} from "forge-std/Script.sol";

// Contracts
import {AttributionReceipts} from "../src/L2/AttributionReceipts.sol";
import {Datanets} from "../src/L2/Datanets.sol";
import {InferenceEscrow} from "../src/L2/InferenceEscrow.sol";
import {ModelRegistry} from "../src/L2/ModelRegistry.sol";
import {Rewards} from "../src/L2/Rewards.sol";
import {Staking} from "../src/L2/Staking.sol";
import {WrappedOpen} from "../src/L2/WrappedOpen.sol";

// Libraries
import {Predeploys} from "../src/libraries/Predeploys.sol";

// Interfaces
import {IAttributionReceipts} from "../src/interfaces/IAttributionReceipts.sol";
import {IDatanets} from "../src/interfaces/IDatanets.sol";
import {IModelRegistry} from "../src/interfaces/IModelRegistry.sol";
import {IRewards} from "../src/interfaces/IRewards.sol";
import {IStaking} from "../src/interfaces/IStaking.sol";

/// @title DeployL2
/// @notice Deploys the L2 economy (WrappedOpen, Staking, Datanets, ModelRegistry,
///         AttributionReceipts, Rewards, InferenceEscrow), wires it, hands the admin roles over,
///         checks it, and writes `deployments/<network>/l2.json`. The predeploys (L1Block,
///         L2ToL1MessagePasser) are not deployed here: the sequencer's genesis holds them; the JSON
///         lists their fixed addresses.
///
///         forge script contracts/script/DeployL2.s.sol --rpc-url http://127.0.0.1:9545 \
///             --broadcast --private-key <deployer key>
///
///         Environment (all optional; amounts in wei, periods in seconds):
///           OL_NETWORK                   deployments/<network>/ folder     (devnet)
///           OL_L2_ADMIN                  DEFAULT_ADMIN_ROLE of the suite   (the deployer)
///           OL_RESOLVER                  RESOLVER_ROLE (challenges, curator slashing) (the deployer)
///           OL_TREASURY                  protocol treasury                 (the deployer)
///           OL_UNBONDING_PERIOD_SECONDS  Staking unbonding period          (600)
///           OL_NOTICE_PERIOD_SECONDS     InferenceEscrow notice period     (300)
///           OL_CHALLENGE_WINDOW_SECONDS  receipt batch challenge window    (60)
///           OL_MIN_ATTESTOR_STAKE        attestor stake to post            (100 OPEN)
///           OL_CHALLENGE_BOND            challenge bond                    (10 OPEN)
///           OL_SLASH_AMOUNT              stake frozen/slashed per challenge (50 OPEN)
///           OL_CHALLENGER_REWARD_BPS     challenger's share of a slash     (5000)
/// @dev Tests call `deploy(config)` with `deployer` set to the script contract itself.
contract DeployL2 is Script {
    /// @notice What the suite is deployed with.
    struct Config {
        address deployer;
        address admin;
        address resolver;
        address treasury;
        uint256 unbondingPeriod;
        uint256 noticePeriod;
        IAttributionReceipts.Params receiptsParams;
    }

    /// @notice The deployed contracts.
    struct Deployment {
        WrappedOpen wrappedOpen;
        Staking staking;
        Datanets datanets;
        ModelRegistry registry;
        AttributionReceipts receipts;
        Rewards rewards;
        InferenceEscrow escrow;
    }

    /// @notice Deploys with the environment's configuration, checks, and writes the JSON.
    /// @return d_ The deployed contracts.
    function run() external returns (Deployment memory d_) {
        Config memory cfg = readConfig(msg.sender);
        vm.startBroadcast();
        d_ = deploy(cfg);
        vm.stopBroadcast();
        check(d_, cfg);
        write(d_, cfg, vm.envOr("OL_NETWORK", string("devnet")));
    }

    /// @notice The configuration from the environment, with devnet defaults.
    /// @param _deployer The broadcasting account.
    /// @return cfg_ The configuration.
    function readConfig(address _deployer) public view returns (Config memory cfg_) {
        cfg_.deployer = _deployer;
        cfg_.admin = vm.envOr("OL_L2_ADMIN", _deployer);
        cfg_.resolver = vm.envOr("OL_RESOLVER", _deployer);
        cfg_.treasury = vm.envOr("OL_TREASURY", _deployer);
        cfg_.unbondingPeriod = vm.envOr("OL_UNBONDING_PERIOD_SECONDS", uint256(600));
        cfg_.noticePeriod = vm.envOr("OL_NOTICE_PERIOD_SECONDS", uint256(300));
        cfg_.receiptsParams = IAttributionReceipts.Params({
            challengeWindow: uint64(vm.envOr("OL_CHALLENGE_WINDOW_SECONDS", uint256(60))),
            minAttestorStake: uint128(vm.envOr("OL_MIN_ATTESTOR_STAKE", uint256(100 ether))),
            challengeBond: uint128(vm.envOr("OL_CHALLENGE_BOND", uint256(10 ether))),
            slashAmount: uint128(vm.envOr("OL_SLASH_AMOUNT", uint256(50 ether))),
            challengerRewardBps: uint16(vm.envOr("OL_CHALLENGER_REWARD_BPS", uint256(5000)))
        });
    }

    /// @notice Deploys and wires the suite. Calls are made by `_cfg.deployer` (the broadcaster,
    ///         or the script contract in tests), which holds the admin roles until the hand-over.
    /// @param _cfg The configuration.
    /// @return d_ The deployed contracts.
    function deploy(Config memory _cfg) public returns (Deployment memory d_) {
        d_.wrappedOpen = new WrappedOpen();
        d_.staking = new Staking(_cfg.deployer, _cfg.unbondingPeriod);
        d_.datanets = new Datanets(IStaking(address(d_.staking)), _cfg.treasury, _cfg.deployer);
        d_.registry = new ModelRegistry(IDatanets(address(d_.datanets)));
        d_.receipts = new AttributionReceipts(
            IStaking(address(d_.staking)), _cfg.treasury, _cfg.deployer, _cfg.receiptsParams
        );
        d_.rewards = new Rewards(
            IModelRegistry(address(d_.registry)),
            IStaking(address(d_.staking)),
            IAttributionReceipts(address(d_.receipts)),
            _cfg.treasury
        );
        d_.receipts.setRewards(IRewards(address(d_.rewards)));
        d_.escrow = new InferenceEscrow(IRewards(address(d_.rewards)), _cfg.noticePeriod);

        // Slashing rights, resolver roles, then the admin role goes to the configured admin.
        bytes32 slasher = d_.staking.SLASHER_ROLE();
        d_.staking.grantRole(slasher, address(d_.receipts));
        d_.staking.grantRole(slasher, address(d_.datanets));
        d_.datanets.grantRole(d_.datanets.RESOLVER_ROLE(), _cfg.resolver);
        d_.receipts.grantRole(d_.receipts.RESOLVER_ROLE(), _cfg.resolver);
        if (_cfg.admin != _cfg.deployer) {
            bytes32 admin = 0x00; // DEFAULT_ADMIN_ROLE
            d_.staking.grantRole(admin, _cfg.admin);
            d_.staking.renounceRole(admin, _cfg.deployer);
            d_.datanets.grantRole(admin, _cfg.admin);
            d_.datanets.renounceRole(admin, _cfg.deployer);
            d_.receipts.grantRole(admin, _cfg.admin);
            d_.receipts.renounceRole(admin, _cfg.deployer);
        }
    }

    /// @notice Reverts unless the deployment is wired as configured.
    /// @param _d   The deployment.
    /// @param _cfg The configuration.
    function check(Deployment memory _d, Config memory _cfg) public view {
        bytes32 admin = 0x00;
        require(_d.staking.hasRole(admin, _cfg.admin), "DeployL2: staking admin");
        require(_d.datanets.hasRole(admin, _cfg.admin), "DeployL2: datanets admin");
        require(_d.receipts.hasRole(admin, _cfg.admin), "DeployL2: receipts admin");
        if (_cfg.admin != _cfg.deployer) {
            require(!_d.staking.hasRole(admin, _cfg.deployer), "DeployL2: deployer kept staking admin");
            require(!_d.datanets.hasRole(admin, _cfg.deployer), "DeployL2: deployer kept datanets admin");
            require(!_d.receipts.hasRole(admin, _cfg.deployer), "DeployL2: deployer kept receipts admin");
        }
        require(
            _d.staking.hasRole(_d.staking.SLASHER_ROLE(), address(_d.receipts)), "DeployL2: receipts slasher"
        );
        require(
            _d.staking.hasRole(_d.staking.SLASHER_ROLE(), address(_d.datanets)), "DeployL2: datanets slasher"
        );
        require(
            _d.datanets.hasRole(_d.datanets.RESOLVER_ROLE(), _cfg.resolver), "DeployL2: datanets resolver"
        );
        require(
            _d.receipts.hasRole(_d.receipts.RESOLVER_ROLE(), _cfg.resolver), "DeployL2: receipts resolver"
        );
        require(_d.staking.unbondingPeriod() == _cfg.unbondingPeriod, "DeployL2: unbonding");
        require(address(_d.datanets.staking()) == address(_d.staking), "DeployL2: datanets staking");
        require(_d.datanets.treasury() == _cfg.treasury, "DeployL2: datanets treasury");
        require(address(_d.registry.datanets()) == address(_d.datanets), "DeployL2: registry datanets");
        require(address(_d.receipts.staking()) == address(_d.staking), "DeployL2: receipts staking");
        require(address(_d.receipts.rewards()) == address(_d.rewards), "DeployL2: receipts rewards");
        require(_d.receipts.treasury() == _cfg.treasury, "DeployL2: receipts treasury");
        require(address(_d.rewards.registry()) == address(_d.registry), "DeployL2: rewards registry");
        require(address(_d.rewards.staking()) == address(_d.staking), "DeployL2: rewards staking");
        require(address(_d.rewards.receipts()) == address(_d.receipts), "DeployL2: rewards receipts");
        require(_d.rewards.treasury() == _cfg.treasury, "DeployL2: rewards treasury");
        require(address(_d.escrow.rewards()) == address(_d.rewards), "DeployL2: escrow rewards");
        require(_d.escrow.noticePeriod() == _cfg.noticePeriod, "DeployL2: notice");
    }

    /// @notice Writes `deployments/<network>/l2.json`.
    /// @param _d       The deployment.
    /// @param _cfg     The configuration.
    /// @param _network The network name (folder).
    function write(Deployment memory _d, Config memory _cfg, string memory _network) public {
        string memory c = "contracts";
        vm.serializeAddress(c, "WrappedOpen", address(_d.wrappedOpen));
        vm.serializeAddress(c, "Staking", address(_d.staking));
        vm.serializeAddress(c, "Datanets", address(_d.datanets));
        vm.serializeAddress(c, "ModelRegistry", address(_d.registry));
        vm.serializeAddress(c, "AttributionReceipts", address(_d.receipts));
        vm.serializeAddress(c, "Rewards", address(_d.rewards));
        c = vm.serializeAddress(c, "InferenceEscrow", address(_d.escrow));

        string memory p = "predeploys";
        vm.serializeAddress(p, "L1Block", Predeploys.L1_BLOCK);
        p = vm.serializeAddress(p, "L2ToL1MessagePasser", Predeploys.L2_TO_L1_MESSAGE_PASSER);

        string memory r = "roles";
        vm.serializeAddress(r, "admin", _cfg.admin);
        vm.serializeAddress(r, "resolver", _cfg.resolver);
        r = vm.serializeAddress(r, "treasury", _cfg.treasury);

        // Wei amounts as decimal strings (they overflow JSON's safe integers); the rest as numbers.
        IAttributionReceipts.Params memory rp = _cfg.receiptsParams;
        string memory q = "params";
        vm.serializeUint(q, "unbondingPeriodSeconds", _cfg.unbondingPeriod);
        vm.serializeUint(q, "noticePeriodSeconds", _cfg.noticePeriod);
        vm.serializeUint(q, "challengeWindowSeconds", rp.challengeWindow);
        vm.serializeString(q, "minAttestorStake", vm.toString(uint256(rp.minAttestorStake)));
        vm.serializeString(q, "challengeBond", vm.toString(uint256(rp.challengeBond)));
        vm.serializeString(q, "slashAmount", vm.toString(uint256(rp.slashAmount)));
        q = vm.serializeUint(q, "challengerRewardBps", rp.challengerRewardBps);

        string memory e = "voucherDomain";
        vm.serializeString(e, "name", "OpenLedger InferenceEscrow");
        vm.serializeString(e, "version", "1");
        vm.serializeUint(e, "chainId", block.chainid);
        vm.serializeAddress(e, "verifyingContract", address(_d.escrow));
        e = vm.serializeBytes32(e, "voucherTypehash", _d.escrow.VOUCHER_TYPEHASH());

        string memory root = "root";
        vm.serializeUint(root, "chainId", block.chainid);
        vm.serializeUint(root, "startBlock", block.number);
        vm.serializeString(root, "contracts", c);
        vm.serializeString(root, "predeploys", p);
        vm.serializeString(root, "roles", r);
        vm.serializeString(root, "params", q);
        root = vm.serializeString(root, "voucherDomain", e);

        string memory dir = string.concat(vm.projectRoot(), "/deployments/", _network);
        vm.createDir(dir, true);
        vm.writeJson(root, string.concat(dir, "/l2.json"));
    }
}
